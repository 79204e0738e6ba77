"""API docs that work without internet: Swagger UI served from the ``swagger-ui-bundle-v2`` wheel.

Litestar's render plugins point at a CDN by default; here every asset URL is one of ours
(``/schema/assets/...``), and the document carries the bearer scheme so "Authorize" works.
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle  # type: ignore[import-untyped]
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router

from opsconductor import __version__

ASSETS = "/schema/assets"
SWAGGER_DIR = Path(swagger_ui_bundle.swagger_ui_path)
BEARER = "bearer"
_FAVICON = f"<link rel='icon' type='image/png' href='{ASSETS}/favicon-32x32.png'>"


def openapi_config() -> OpenAPIConfig:
    """The OpenAPI document at /schema/openapi.json (and .yaml); Swagger UI at /schema and /schema/swagger."""
    swagger = SwaggerRenderPlugin(
        path=["/", "/swagger"],
        js_url=f"{ASSETS}/swagger-ui-bundle.js",
        css_url=f"{ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
        favicon=_FAVICON,
    )
    return OpenAPIConfig(
        title="OpsConductor",
        version=__version__,
        path="/schema",
        render_plugins=[swagger, JsonRenderPlugin(), YamlRenderPlugin()],
        components=Components(security_schemes={
            BEARER: SecurityScheme(type="http", scheme="bearer",
                                   description="An API key: `opsconductor keys create --name NAME --scope read`"),
        }),
        security=[{BEARER: []}],
    )


ASSET_ROUTER = create_static_files_router(path=ASSETS, directories=[SWAGGER_DIR], opt={"public": True},
                                          include_in_schema=False, name="openapi-assets")
ROUTES = [ASSET_ROUTER]
