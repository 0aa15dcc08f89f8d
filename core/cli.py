"""The thin ``tradecredit`` runner. Every command calls the library; no logic lives here."""

from __future__ import annotations

import sys

import click

from .plugins import get_host


class _PluginAwareGroup(click.Group):
    """Loads plugin commands lazily, the first time the CLI needs its command list."""

    _plugins_loaded = False

    def _load_plugin_commands(self) -> None:
        if not self._plugins_loaded:
            self._plugins_loaded = True
            host = get_host()
            host.call_lifecycle("register_commands", cli=self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load_plugin_commands()
        return super().get_command(ctx, cmd_name)


@click.group(cls=_PluginAwareGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tradecredit")
def cli() -> None:
    """tradecredit: keep B2B trade credit in step between Comarch ERP and online shops."""


@cli.group()
def sandbox() -> None:
    """Local stand-ins for shops, on loopback, for trying tradecredit without a real shop."""


def main() -> None:
    cli.main(prog_name="tradecredit")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
