"""The manager suite shares the browser fixtures of tests/ui (one demo hub per module, pages that
fail on a script error or a foreign request)."""

from tests.ui.conftest import demo_hub, open_page  # noqa: F401  (pytest fixtures)
