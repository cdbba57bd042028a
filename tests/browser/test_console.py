"""The console in a real browser (Debian's Chromium driven by Playwright) over the whole platform
as real processes, Kafka and PostgreSQL: a referrer saves a draft, resumes it and submits; the
coordinator sees it scheduled, and confirms (by keyboard) that another agency's referral which
joined the case is the same victim; once the case list is out an agency representative reads it and
returns research; the coordinator records an action; the agency completes it; on the day the
coordinator records the case heard and the SafeLives quarterly return shows it (counts, the
chart, the CSV). axe-core checks every page (no violation) and each page's screenshot is kept
under .artefacts/console/.

The platform is started three times: on Wed 2 Dec 2026 (the referral; northshire's next open
date is Tue 15 Dec), then on Fri 11 Dec 2026 10:00, after that date's case list is due (09:00),
so the research round is open without waiting for a clock, then on Tue 15 Dec 10:30, once that
date's 10:00 meeting has begun.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
import time_machine

from marac_platform.checklists import get_checklist
from marac_platform.launcher import Platform
from marac_platform.ports import free_port
from marac_platform.security.tokens import mint_token
from marac_platform.settings import SERVICES
from services.referral.sample import PARTNER_CHECKLIST, sample_referral
from services.registry import PROGRAM
from tests.conftest import PlatformEnv
from tests.support.clock import process_clock_env

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = REPO / "services" / "console" / "node_modules" / "axe-core" / "axe.min.js"
ARTEFACTS = REPO / ".artefacts" / "console"
REFERRAL_DAY = datetime.fromisoformat("2026-12-02T11:00:00+00:00")
RESEARCH_DAY = datetime.fromisoformat("2026-12-11T10:00:00+00:00")
HEARING_DAY = datetime.fromisoformat("2026-12-15T10:30:00+00:00")
MARAC_DATE = "15 December 2026"

playwright_sync = pytest.importorskip("playwright.sync_api")
Page = playwright_sync.Page
PlaywrightTimeout = playwright_sync.TimeoutError


@pytest.fixture
def clock_start() -> datetime:
    return REFERRAL_DAY


def start(platform_env: PlatformEnv, log_dir: Path, instant: datetime,
          ports: dict[str, str]) -> Platform:
    env = {**platform_env.env, **ports, **process_clock_env(instant),
           "MARAC_CONSOLE_DEV_SIGN_IN": "1",
           "MARAC_PUBLIC_URL": f"http://127.0.0.1:{ports['MARAC_CONSOLE_PORT']}"}
    platform = Platform(env=env, log_dir=log_dir, apps=["console"], program=PROGRAM)
    platform.start(timeout_s=120)
    return platform


@pytest.fixture
def ports() -> dict[str, str]:
    return {f"MARAC_{name.upper()}_PORT": str(free_port()) for name in (*SERVICES, "console")}


@pytest.fixture
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is not installed (./dev test installs it)")
    with playwright_sync.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


class Visitor:
    """One person's browser session: every page visited is checked by axe and photographed."""

    def __init__(self, browser: object, base: str, name: str, shots: list[str]) -> None:
        # The console's CSP allows no inline script: axe is injected past it, as a tester's tool.
        self.context = browser.new_context(bypass_csp=True, base_url=base)  # type: ignore[attr-defined]
        # A page that renders from five services waits on all of them: on a busy machine (two
        # suites on two cores) 15 s was not always enough.
        self.context.set_default_timeout(60_000)
        self.page: Page = self.context.new_page()
        self.name = name
        self.shots = shots

    def check(self, label: str) -> None:
        """axe-core on the page as it stands: no violation; then its screenshot."""
        page = self.page
        assert "Traceback" not in page.content()
        page.add_script_tag(path=str(AXE))
        violations = page.evaluate("""async () => (await axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa',
                                             'best-practice']}})).violations.map(
            v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))""")
        assert violations == [], f"{label}: {violations}"
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        shot = f"{len(self.shots) + 1:02d}-{self.name}-{label}.png"
        try:  # an artefact: a screenshot that times out on a starved machine fails nothing
            page.screenshot(path=str(ARTEFACTS / shot), full_page=True, timeout=30_000)
        except PlaywrightTimeout:
            print(f"screenshot {shot} timed out")
            return
        self.shots.append(shot)

    def sign_in(self, role: str, agency: str) -> None:
        page = self.page
        page.goto("/")
        assert page.title().startswith("Sign in")
        if not any(s.endswith("sign-in.png") for s in self.shots):
            self.check("sign-in")
        # By keyboard alone, as a person who cannot use a mouse would.
        tab_to(page, "input[name=role]")
        choose_radio(page, "role", role)
        tab_to(page, "#area")
        choose_option(page, "#area", "northshire")
        tab_to(page, "#agency")
        choose_option(page, "#agency", agency)
        tab_to(page, "button[type=submit]")
        with page.expect_navigation():
            page.keyboard.press("Enter")

    def close(self) -> None:
        self.context.close()


def tab_to(page: Page, selector: str, limit: int = 60) -> None:
    """Press Tab until the focus is on an element matching `selector` (fails if it never is:
    the control cannot be reached by keyboard)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => !!document.activeElement && document.activeElement.matches(s)",
                         selector):
            return
    raise AssertionError(f"{selector} not reached by keyboard in {limit} tabs")


def choose_radio(page: Page, name: str, value: str) -> None:
    """With the focus in a radio group: Space checks the focused one, arrows move the choice."""
    page.keyboard.press("Space")
    for _ in range(20):
        if page.evaluate("n => document.querySelector(`input[name=${n}]:checked`)?.value",
                         name) == value:
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"{name}={value} not chosen by keyboard")


def choose_option(page: Page, selector: str, value: str) -> None:
    """With the focus on a <select>: arrow keys move through its options."""
    for _ in range(2):  # from the top, then once more after wrapping round
        for _ in range(40):
            if page.evaluate("s => document.querySelector(s).value", selector) == value:
                return
            page.keyboard.press("ArrowDown")
        page.keyboard.press("Home")
    raise AssertionError(f"{selector}={value} not chosen by keyboard")


def key_in(page: Page, selector: str, text: str) -> None:
    """Tab to a text field, clear it and type, as a keyboard user would."""
    tab_to(page, selector)
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


def key_date(page: Page, field_id: str, day: int, month: int, year: int) -> None:
    for suffix, value in (("", day), ("-month", month), ("-year", year)):
        key_in(page, f"#{field_id}{suffix}", str(value))


def open_section(page: Page, name: str) -> None:
    """From the task list, by keyboard: Tab to the section's link and press Enter."""
    tab_to(page, f"a[href$='/sections/{name}']")
    with page.expect_navigation():
        page.keyboard.press("Enter")


def save_section(page: Page) -> None:
    tab_to(page, "main button.govuk-button")
    with page.expect_navigation():
        page.keyboard.press("Enter")


def poll(check: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def fill_date(page: Page, field_id: str, day: int, month: int, year: int) -> None:
    page.fill(f"#{field_id}", str(day))
    page.fill(f"#{field_id}-month", str(month))
    page.fill(f"#{field_id}-year", str(year))


def second_referral(platform_env: PlatformEnv, ports: dict[str, str], given: str = "Alex") -> str:
    """Health refers the same victim (name and date of birth) through the referral API, with
    too few DASH answers to meet the criteria: it joins her open case and goes back to its
    referrer, so the agenda and the return are unchanged. Its id. `given`: "A" joins her
    case by the initial alone."""
    private = (Path(platform_env.env["MARAC_DATA_DIR"]) / "keys" / "dev_private.pem").read_bytes()
    token = mint_token(private, subject="browser-health-referrer", agency="health",
                       role="referrer", areas=["northshire"], audience="marac",
                       issuer="marac-dev",
                       issued_at=int(time_machine.escape_hatch.time.time()))  # the wall clock
    form = sample_referral(list(get_checklist(PARTNER_CHECKLIST).question_ids), yes_answers=0,
                           victim_given=given)
    form["referrer"]["agency_id"] = "health"
    request = urllib.request.Request(
        f"http://127.0.0.1:{ports['MARAC_REFERRAL_PORT']}/v1/referrals?submit=true",
        data=json.dumps(form).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        created = json.loads(response.read())
    referral_id: str = created["id"]
    return referral_id


def test_referral_to_completed_action_in_the_console(
        platform_env: PlatformEnv, tmp_path: Path, browser: object, ports: dict[str, str]) -> None:
    shots: list[str] = []
    base = f"http://127.0.0.1:{ports['MARAC_CONSOLE_PORT']}"
    platform = start(platform_env, tmp_path / "logs-1", REFERRAL_DAY, ports)
    try:
        # --- the referrer: a draft, saved section by section ---------------------------------
        referrer = Visitor(browser, base, "referrer", shots)
        referrer.sign_in("referrer", "police")
        page = referrer.page
        page.wait_for_url("**/referrals")
        referrer.check("referrals")
        page.click("text=Start a new referral")
        referrer.check("new")
        page.click("button:has-text('Start the referral')")
        page.wait_for_url(re.compile(r"/referrals/ref-[0-9a-f]+$"))
        referral_url = page.url
        referral_id = referral_url.rsplit("/", 1)[1]
        referrer.check("tasks")
        # Every section by keyboard alone: Tab to each control, type, Space or arrows to
        # choose, Enter to open a section and to save it.
        open_section(page, "referrer")
        referrer.check("section-about-you")
        key_in(page, "#referrer-name", "Sam Referrer")
        key_in(page, "#referrer-role", "Detective Constable")
        key_in(page, "#referrer-secure_email", "sam.referrer@police.example")
        save_section(page)
        page.wait_for_url(referral_url)
        open_section(page, "victim")
        key_in(page, "#victim-name-given", "Alex")
        key_in(page, "#victim-name-family", "Example")
        key_date(page, "victim-dates_of_birth-0", 1, 4, 1990)
        key_in(page, "#victim-address-lines-0", "1 Sample Street")
        key_in(page, "#victim-address-town", "Northtown")
        key_in(page, "#victim-address-postcode", "not a postcode")
        save_section(page)
        # The referral service's 422, beside the field and in the summary linking to it.
        summary = page.locator(".govuk-error-summary")
        assert summary.is_visible()
        assert summary.locator("a[href='#victim-address-postcode']").count() == 1
        assert "postcode" in page.locator("#victim-address-postcode-error").inner_text().lower()
        assert page.title().startswith("Error: ")
        assert page.input_value("#victim-name-given") == "Alex"  # nothing typed is lost
        referrer.check("section-error")
        key_in(page, "#victim-address-postcode", "NT1 1AA")
        tab_to(page, "input[name=victim-gender]")
        choose_radio(page, "victim-gender", "female")
        save_section(page)
        page.wait_for_url(referral_url)
        referrer.close()

        # --- resumed later, in a new session -----------------------------------------------
        referrer = Visitor(browser, base, "referrer", shots)
        referrer.sign_in("referrer", "police")
        page = referrer.page
        page.wait_for_url("**/referrals")
        page.click(f"text={referral_id}")
        page.wait_for_url(referral_url)
        tasks = page.locator(".govuk-task-list").inner_text()
        assert tasks.count("Saved") == 2, tasks
        open_section(page, "perpetrator")
        key_in(page, "#perpetrators-0-name-given", "Pat")
        tab_to(page, "input[name=perpetrators-0-relationship_to_victim]")
        choose_radio(page, "perpetrators-0-relationship_to_victim", "ex_partner")
        save_section(page)
        open_section(page, "diversity")
        tab_to(page, "#diversity-ethnicity")
        choose_option(page, "#diversity-ethnicity", "prefer_not_to_say")
        tab_to(page, "input[name=diversity-lgbt_plus]")
        choose_radio(page, "diversity-lgbt_plus", "no")
        referrer.check("section-diversity")
        save_section(page)
        open_section(page, "incident")
        key_date(page, "incidents-0-date", 29, 11, 2026)
        key_in(page, "#incidents-0-summary", "Threats made at the home address; police attended.")
        save_section(page)
        open_section(page, "dash")
        referrer.check("section-dash")
        questions = page.locator("fieldset:has(input[value=dont_know])")
        for index in range(questions.count()):
            name = questions.nth(index).locator("input").first.get_attribute("name") or ""
            tab_to(page, f"input[name='{name}']")
            choose_radio(page, name, "yes" if index < 16 else "no")
        tab_to(page, "input[name=dash-answered_by-who]")
        choose_radio(page, "dash-answered_by-who", "victim")
        save_section(page)
        page.wait_for_url(referral_url)
        open_section(page, "criteria")
        tab_to(page, "input[name=criteria_claimed][value=visible_high_risk]")
        page.keyboard.press("Space")
        key_in(page, "#police_callouts_last_12_months", "1")
        tab_to(page, "input[name=consent-status]")
        choose_radio(page, "consent-status", "given")
        save_section(page)
        page.wait_for_url(referral_url)
        assert page.locator(".govuk-task-list").inner_text().count("Saved") == 7
        page.click("text=Check and submit")
        body = page.locator("main").inner_text()
        assert "Answered yes" in body and "16" in body
        assert "visible high risk" in body
        referrer.check("check")
        tab_to(page, "#submit")  # submitted by keyboard
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.wait_for_url("**/referrals")
        referrer.check("submitted")

        def scheduled() -> bool:
            page.goto("/referrals")
            row = page.locator("tr", has_text=referral_id).inner_text()
            return "scheduled" in row and MARAC_DATE in row

        poll(scheduled, "the referral to be scheduled")
        page.goto(referral_url)
        case_id = re.search(r"case-[0-9a-f]+", page.locator("main").inner_text()).group(0)
        referrer.check("referral")
        referrer.close()

        # --- another agency refers the same victim (through the API): it joins her case ----
        duplicate = second_referral(platform_env, ports)

        # --- the coordinator sees it on the agenda --------------------------------------------
        coordinator = Visitor(browser, base, "coordinator", shots)
        coordinator.sign_in("coordinator", "marac")
        page = coordinator.page
        page.wait_for_url("**/home")
        home = page.locator("main").inner_text()
        assert "Cases past the hearing target" in home and "Possible duplicate victims" in home
        assert duplicate in home
        coordinator.check("home")
        # The possible duplicate: checked on its page and confirmed, by keyboard alone.
        page.click(f"text={duplicate}")
        page.wait_for_url(f"**/referrals/{duplicate}")
        assert case_id in page.locator("main").inner_text()
        coordinator.check("duplicate")
        tab_to(page, "form[action$='/link-confirmation'] button")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "Confirmed: the referral is the same victim" in page.locator("main").inner_text()
        assert "Confirmed by" in page.locator(".govuk-summary-list").inner_text()
        page.goto("/home")
        assert duplicate not in page.locator("main").inner_text()
        # A referral for "A Example", born the same day, joined her case by the initial: the
        # coordinator finds it is another woman and gives it a case of its own, by keyboard.
        namesake = second_referral(platform_env, ports, given="A")
        separate = "form[action$='/separation'] button"

        def separable() -> bool:  # once risk has returned it (0 answers): not while assessed
            page.goto(f"/referrals/{namesake}")
            return page.locator(separate).count() == 1

        poll(separable, "the namesake's referral to be assessed")
        assert case_id in page.locator("main").inner_text()
        tab_to(page, separate)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "has a case of its own now" in page.locator("main").inner_text()
        details = page.locator(".govuk-summary-list").inner_text()
        assert f"Separated from case {case_id}" in details
        assert details.count(case_id) == 1  # its case is another now
        coordinator.check("separated")
        page.goto("/home")
        assert namesake not in page.locator("main").inner_text()
        page.click("text=Transfers in and out")
        assert "No transfer has been offered to your areas." in page.locator("main").inner_text()
        coordinator.check("transfers")
        page.goto("/home")
        page.click(f"text={MARAC_DATE}")
        assert case_id in page.locator("main").inner_text()
        meeting_url = page.url
        coordinator.check("agenda")
        coordinator.close()
    finally:
        platform.stop()

    # --- nine days on: the case list is out, research is owed ---------------------------------
    platform = start(platform_env, tmp_path / "logs-2", RESEARCH_DAY, ports)
    try:
        agency = Visitor(browser, base, "health", shots)
        agency.sign_in("agency_rep", "health")
        page = agency.page
        page.wait_for_url("**/research")

        def owed() -> bool:
            page.goto("/research")
            return page.locator("tr", has_text=case_id).count() > 0

        poll(owed, "research owed by health")
        agency.check("research")
        page.goto(meeting_url + "/case-list")
        assert case_id in page.locator("main").inner_text()
        agency.check("case-list")
        page.goto("/research")
        page.locator("tr", has_text=case_id).locator("a", has_text="Write the return").click()
        agency.check("return")
        page.check("input[name=involvement][value=held]")
        page.fill("#victim-known", "Registered with a GP; two A&E visits this year.")
        page.fill("#victim-risks", "Injuries consistent with the DASH answers.")
        page.click("button:has-text('Send the return')")
        page.wait_for_url("**/research")
        assert "Your research return was sent." in page.locator("main").inner_text()

        coordinator = Visitor(browser, base, "coordinator", shots)
        coordinator.sign_in("coordinator", "marac")
        cpage = coordinator.page
        cpage.wait_for_url("**/home")
        cpage.goto(meeting_url)
        row = cpage.locator("tr", has_text=case_id).inner_text()
        assert "health" in row.split("\t")[3], row  # the "returned" column
        cpage.click(f"text={case_id}")
        coordinator.check("case")
        cpage.select_option("#action-catalogue_code", "alarm")
        cpage.select_option("#action-owner_agency", "health")
        cpage.select_option("#action-asked_by_agency", "idva")
        cpage.check("input[name=for_whom][value=victim]")
        fill_date(cpage, "action-due_by", 18, 12, 2026)
        cpage.check("input[name=agreed][value=yes]")
        cpage.click("button:has-text('Record the action')")
        assert "The action was recorded." in cpage.locator("main").inner_text()
        coordinator.check("action-recorded")
        cpage.goto("/deliveries")
        coordinator.check("deliveries")

        page.goto("/actions")
        agency.check("actions")
        page.click("text=Personal or panic alarm installed")
        agency.check("action")
        tab_to(page, "input[name=status]")  # the agency's update, by keyboard alone
        choose_radio(page, "status", "completed")
        tab_to(page, "#note")
        page.keyboard.type("Alarm fitted.")
        tab_to(page, "button[type=submit]")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "The action is now completed." in page.locator("main").inner_text()
        assert "completed" in page.locator(".govuk-summary-list").inner_text()
        agency.close()

        cpage.goto("/actions")
        assert "Personal or panic alarm installed" not in cpage.locator("table").first.inner_text() \
            if cpage.locator("table").count() else True
        coordinator.close()

        auditor = Visitor(browser, base, "auditor", shots)
        auditor.sign_in("auditor", "marac")
        auditor.page.wait_for_url("**/audit")
        assert auditor.page.locator("text=intact").count() == len(SERVICES)
        auditor.check("audit")
        auditor.close()
    finally:
        platform.stop()

    # --- the MARAC date: the case is heard, and the quarterly return counts it ---------------
    platform = start(platform_env, tmp_path / "logs-3", HEARING_DAY, ports)
    try:
        coordinator = Visitor(browser, base, "coordinator", shots)
        coordinator.sign_in("coordinator", "marac")
        cpage = coordinator.page
        cpage.wait_for_url("**/home")
        cpage.goto(meeting_url)
        cpage.locator("tr", has_text=case_id).locator("button", has_text="Heard").click()
        assert f"Case {case_id}: heard." in cpage.locator("main").inner_text()
        cpage.goto("/home")
        cpage.click("text=The SafeLives quarterly return for northshire")
        cpage.wait_for_url(re.compile(r"/returns/quarterly\?area=northshire$"))
        assert cpage.title().startswith("Quarterly return: northshire, 2026-Q4")

        def counted() -> bool:
            cpage.reload()
            return cpage.locator("svg[role=img] rect").count() == 1

        poll(counted, "the heard case in the return's chart")
        chart = cpage.locator("svg[role=img]")
        assert "2026-12-15: 1 case" in (chart.locator("desc").text_content() or "")
        rows = cpage.locator("table", has_text="Cases and referrals").locator("tbody tr")
        assert rows.count() == 2  # 15 December, and the quarter's total
        assert rows.nth(0).inner_text().startswith(MARAC_DATE)
        assert "fewer than 5" in rows.nth(0).inner_text()  # one case: never shown as 1
        summary = cpage.locator(".govuk-summary-list").inner_text()
        assert "below the recommended 40" in summary and "245,000" in summary
        actions = cpage.locator("table", has_text="Actions agreed").inner_text()
        assert MARAC_DATE in actions
        coordinator.check("quarterly-return")
        csv = cpage.request.get("/returns/quarterly.csv?area=northshire&quarter=2026-Q4")
        assert csv.ok and csv.headers["content-type"].startswith("text/csv")
        lines = csv.text().splitlines()
        assert lines[1].startswith("northshire,2026-Q4,2026-12-15,1,")  # exact counts
        assert any(line.startswith("northshire,2026-Q4,Total,1,") for line in lines)

        # The victim has moved: the coordinator asks southshire to take the case over.
        cpage.goto(f"/cases/{case_id}")
        cpage.click("text=Ask another area to take this case over")
        cpage.click("button:has-text('Ask for the transfer')")  # nothing chosen yet
        summary = cpage.locator(".govuk-error-summary").inner_text()
        assert "Select the area that is to take the case over" in summary, summary
        assert cpage.title().startswith("Error: ")
        coordinator.check("transfer-errors")
        cpage.goto(f"/cases/{case_id}/transfer")
        coordinator.check("transfer-new")
        tab_to(cpage, "#transfer-to_area")  # and the rest by keyboard alone
        choose_option(cpage, "#transfer-to_area", "southshire")
        tab_to(cpage, "input[name=reason]")
        choose_radio(cpage, "reason", "moved_permanently")
        for name in ("heard_in_origin", "named_on_case_list"):
            tab_to(cpage, f"input[name={name}]")
            choose_radio(cpage, name, "yes")
        tab_to(cpage, "#transfer-note")
        cpage.keyboard.type("Moved to live with family; IDVA handover arranged.")
        tab_to(cpage, "form[action$='/transfer'] button")
        with cpage.expect_navigation():
            cpage.keyboard.press("Enter")
        cpage.wait_for_url(re.compile(r"/transfers/trf[-_]"))
        main = cpage.locator("main").inner_text()
        assert "The transfer was asked for." in main and "southshire" in main, main
        assert "Moved to live with family" in main  # the note goes with the request
        coordinator.check("transfer-asked")
        coordinator.close()
    finally:
        platform.stop()
    for log_file in sorted((tmp_path).glob("logs-*/console-web.log")):
        text = log_file.read_text(errors="replace")
        for personal in ("Alex", "Example", "Sample Street", "NT1 1AA"):
            assert personal not in text, f"{personal!r} in {log_file}"
