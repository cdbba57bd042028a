"""marac_platform: the common library every MARAC service is built on."""

__all__: list[str] = []
