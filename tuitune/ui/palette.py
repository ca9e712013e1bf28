"""Command-palette provider: every action bound on the app and the current screen, searchable by name."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class ActionsProvider(Provider):
    """Lists each binding's description (and tooltip) and runs its action on the node that owns it."""

    def _actions(self) -> list[tuple[str, str, object]]:
        seen: set[str] = set()
        found: list[tuple[str, str, object]] = []
        for key, active in self.screen.active_bindings.items():
            binding = active.binding
            title = binding.description or binding.action
            if binding.action in seen or not title:
                continue
            seen.add(binding.action)
            keys = binding.key_display or key
            help_text = f"{binding.tooltip}  [{keys}]" if binding.tooltip else f"[{keys}]"
            runner = partial(self.app.run_action, binding.action, active.node)
            found.append((title, help_text, runner))
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
