"""API docs that work without internet: Swagger UI served from the ``swagger-ui-bundle-v2`` wheel.

Litestar's render plugins point at a CDN by default; here every asset URL is one of ours
(``/schema/assets/...``); the document (``api/contract.py``) carries the bearer scheme so "Authorize" works.
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle  # type: ignore[import-untyped]
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin, SwaggerRenderPlugin, YamlRenderPlugin
from litestar.static_files import create_static_files_router

ASSETS = "/schema/assets"
SWAGGER_DIR = Path(swagger_ui_bundle.swagger_ui_path)
_FAVICON = f"<link rel='icon' type='image/png' href='{ASSETS}/favicon-32x32.png'>"


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """Swagger UI at /schema and /schema/swagger from local assets; the document as JSON and YAML."""
    swagger = SwaggerRenderPlugin(
        path=["/", "/swagger"],
        js_url=f"{ASSETS}/swagger-ui-bundle.js",
        css_url=f"{ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
        favicon=_FAVICON,
    )
    return [swagger, JsonRenderPlugin(), YamlRenderPlugin()]


ASSET_ROUTER = create_static_files_router(path=ASSETS, directories=[SWAGGER_DIR], opt={"public": True},
                                          include_in_schema=False, name="openapi-assets")
ROUTES = [ASSET_ROUTER]
