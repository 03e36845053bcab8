"""The audiorep web app: upload a clip, see its views, encode and decode it with the codec.

Needs the ``serve`` extra: ``pip install 'audiorep[serve]'``. Start it with ``audiorep serve``
or :func:`serve`; :func:`create_app` gives the ASGI app itself.
"""

from importlib.util import find_spec

_NEEDED = ("starlette", "uvicorn", "python_multipart", "plotly", "torch")
_missing = [name for name in _NEEDED if find_spec(name) is None]
if _missing:
    raise ModuleNotFoundError(f"the web app needs {', '.join(_missing)}: pip install 'audiorep[serve]'",
                              name=_missing[0])

from .app import create_app, serve, serve_in_thread  # noqa: E402 - only once the dependencies are known to be there

__all__ = ["create_app", "serve", "serve_in_thread"]
