"""Command-palette provider: every action bound on the current screen and the app, then Textual's own commands.

One provider for both, so the order is fixed: Textual gathers providers concurrently and lists their
discoveries as they arrive, which put its Keys, Maximize, Screenshot and Theme before the app's commands.
"""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class ActionsProvider(Provider):
    """Lists each binding's description (and tooltip) and runs its action on the node that owns it; Textual's
    system commands (theme, keys, screenshot...) follow, less those a binding already offers (Quit)."""

    def _actions(self) -> list[tuple[str, str, object]]:
        seen: set[str] = set()
        found: list[tuple[str, str, object]] = []
        # The keys the key bar shows first (the screen's, then the app's), then the other keys of the screen
        # and the app, then the focused widget's (cursor moves, paging).
        ordered = sorted(self.screen.active_bindings.items(),
                         key=lambda item: (not item[1].binding.show,
                                           item[1].node is not self.screen and item[1].node is not self.app))
        for key, active in ordered:
            binding = active.binding
            title = binding.description or binding.action
            if binding.action in seen or not title:
                continue
            seen.add(binding.action)
            keys = binding.key_display or key
            help_text = f"{binding.tooltip}  [{keys}]" if binding.tooltip else f"[{keys}]"
            runner = partial(self.app.run_action, binding.action, active.node)
            found.append((title, help_text, runner))
        titles = {title for title, _, _ in found}
        for command in self.app.get_system_commands(self.screen):
            if command.discover and command.title not in titles:
                found.append((command.title, command.help, command.callback))
        return found

    async def discover(self) -> Hits:
        for title, help_text, runner in self._actions():
            yield DiscoveryHit(title, runner, help=help_text)  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, runner in self._actions():
            score = matcher.match(f"{title} {help_text}")
            if score > 0:
                yield Hit(score, matcher.highlight(title), runner, text=title, help=help_text)  # type: ignore[arg-type]
