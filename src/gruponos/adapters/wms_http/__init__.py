"""The WMS source over HTTP (httpx): lgfapi v10 with Basic or OAuth2 auth, paging and retries.

See ``docs/wms-client.md`` for configuration, paging, the retry policy and error codes.
"""

from gruponos.adapters.wms_http.config import (
    DEFAULT_SCOPE,
    AuthConfig,
    BasicAuthConfig,
    OAuth2Config,
    OAuth2Grant,
    PageMode,
    WmsClientConfig,
)
from gruponos.adapters.wms_http.source import HttpxWmsSource

__all__ = [
    "DEFAULT_SCOPE",
    "AuthConfig",
    "BasicAuthConfig",
    "HttpxWmsSource",
    "OAuth2Config",
    "OAuth2Grant",
    "PageMode",
    "WmsClientConfig",
]
