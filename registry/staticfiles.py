"""A staticfiles finder that serves the plotly.js shipped inside the plotly package.

No asset comes from a CDN (intranets block them), and copying the 4.8 MB bundle
into static/ would let it drift from the Python package. The finder exposes the
package's own file as `vendor/plotly.min.js`: WhiteNoise serves it in
development, and `collectstatic` copies it (hashed, so cached for good) for
production.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from django.contrib.staticfiles.finders import BaseFinder, searched_locations
from django.core import checks
from django.core.files.storage import FileSystemStorage

PLOTLY_STATIC_PATH = "vendor/plotly.min.js"


def plotly_package_data() -> Path | None:
    """The plotly package's package_data folder, found without importing plotly."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "package_data"


class PlotlyFinder(BaseFinder):
    """Maps `vendor/plotly.min.js` to plotly/package_data/plotly.min.js."""

    def __init__(self, *args, **kwargs) -> None:
        self.root = plotly_package_data()
        self.storage = None
        if self.root is not None:
            self.storage = FileSystemStorage(location=self.root)
            # collectstatic and WhiteNoise put the listed file under this prefix.
            self.storage.prefix = PLOTLY_STATIC_PATH.rpartition("/")[0]
        super().__init__(*args, **kwargs)

    def _file(self) -> Path | None:
        if self.root is None:
            return None
        path = self.root / PLOTLY_STATIC_PATH.rpartition("/")[2]
        return path if path.is_file() else None

    def check(self, **kwargs) -> list[checks.CheckMessage]:
        if self._file() is None:
            return [
                checks.Error(
                    "plotly.min.js was not found in the plotly package.",
                    hint="Install the plotly Python package (see pyproject.toml).",
                    id="registry.E001",
                )
            ]
        return []

    def find(self, path, find_all=False, **kwargs):  # noqa: FBT002 - Django's signature
        # Django 5.x still accepts the deprecated `all` keyword.
        find_all = kwargs.get("all", find_all)
        match = self._file() if path == PLOTLY_STATIC_PATH else None
        if match is None:
            return []
        if str(self.root) not in searched_locations:
            searched_locations.append(str(self.root))
        return [str(match)] if find_all else str(match)

    def list(self, ignore_patterns):
        if self._file() is not None:
            yield PLOTLY_STATIC_PATH.rpartition("/")[2], self.storage
