"""Kafka clients with the platform's settings: idempotent producer, admin, topic creation."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError, for_code
from kafka.net.compat import KafkaNetClient

from marac_platform import events
from marac_platform.settings import KafkaSettings

log = logging.getLogger(__name__)

Client = TypeVar("Client")

# A client that cannot reach a broker fails after this long, and the caller (a worker) retries
# with a logged reason instead of hanging; and it reconnects within seconds once one is back.
OUTAGE_OPTIONS: dict[str, object] = {"bootstrap_timeout_ms": 5_000,
                                     "reconnect_backoff_max_ms": 5_000}


def closed_on_failure(make: Callable[..., Client], *args: Any, **options: Any) -> Client:
    """`make(*args, **options)`, closing the network client it opened if it raises: a consumer or admin
    client that fails to bootstrap would otherwise leave its I/O thread running (a leak per try)."""
    opened: list[Any] = []

    def network_client(**config: Any) -> Any:
        opened.append(KafkaNetClient(**config))
        return opened[-1]

    try:
        return make(*args, kafka_client=network_client, **options)
    except BaseException:
        for client in opened:
            try:
                client.close()
            except Exception as exc:
                log.debug("closing a failed client failed", extra={"reason_code": type(exc).__name__})
        raise


def producer(settings: KafkaSettings, client_id: str) -> KafkaProducer:
    """Idempotent, acks=all: a retried send never duplicates or reorders within a partition."""
    return closed_on_failure(
        KafkaProducer,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        retries=2147483647,
        max_in_flight_requests_per_connection=5,
        **OUTAGE_OPTIONS,
        **settings.client_options(),
    )


def consumer(
    settings: KafkaSettings, group_id: str | None, *topics: str, **extra: Any
) -> KafkaConsumer:
    options: dict[str, Any] = {
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": 50,
        "allow_auto_create_topics": False,
        "session_timeout_ms": settings.session_timeout_ms,
        "heartbeat_interval_ms": min(3_000, settings.session_timeout_ms // 3),
        **OUTAGE_OPTIONS,
        **settings.client_options(),
    }
    options.update(extra)
    return closed_on_failure(KafkaConsumer, *topics, **options)


def admin(settings: KafkaSettings, client_id: str = "marac-admin") -> KafkaAdminClient:
    return KafkaAdminClient(client_id=client_id, **settings.client_options())


def platform_topics() -> list[str]:
    """Every topic the platform uses: one per event family, and its dead-letter topic."""
    names = [events.kafka_topic(family) for family in events.topics()]
    return names + [events.dlq_topic(name) for name in names]


def create_topics(settings: KafkaSettings) -> tuple[list[str], list[str]]:
    """Create missing topics with explicit partitions and replication; returns (created, existing).

    All in one request: one at a time, the 58 topics took seconds on a small machine."""
    client = admin(settings)
    try:
        present = set(client.list_topics())
        wanted = platform_topics()
        missing = [name for name in wanted if name not in present]
        created: list[str] = []
        if missing:
            topics = [NewTopic(name=name, num_partitions=settings.topic_partitions,
                               replication_factor=settings.topic_replication,
                               topic_configs={"min.insync.replicas":
                                              str(min(2, settings.topic_replication))})
                      for name in missing]
            answer = client.create_topics(topics, raise_errors=False)
            for topic in answer.get("topics", []):
                code = topic.get("error_code", 0)
                if code == TopicAlreadyExistsError.errno:
                    continue  # another process created it between list and create
                if code:
                    raise for_code(code)(f"creating topic {topic.get('name')}: "
                                         f"{topic.get('error_message') or 'refused'}")
                created.append(topic["name"])
        return created, [name for name in wanted if name in present]
    finally:
        client.close()


def delete_topics(settings: KafkaSettings, prefix: str) -> int:
    """Delete every topic whose name starts with `prefix` (a test platform's own); returns how
    many. A broker holding thousands of test topics slows, and maps a file per index."""
    if not prefix:
        raise ValueError("delete_topics needs a prefix: it never deletes every topic")
    client = admin(settings)
    try:
        names = [name for name in client.list_topics() if name.startswith(prefix)]
        if names:
            client.delete_topics(names, raise_errors=False)
        return len(names)
    finally:
        client.close()


def broker_reachable(settings: KafkaSettings, timeout_s: float = 3.0) -> bool:
    try:
        client = closed_on_failure(
            KafkaAdminClient,
            client_id="marac-readiness",
            request_timeout_ms=int(timeout_s * 1000),
            bootstrap_timeout_ms=int(timeout_s * 1000),
            **settings.client_options(),
        )
    except Exception:
        return False
    try:
        client.list_topics()
        return True
    except Exception:
        return False
    finally:
        client.close()
