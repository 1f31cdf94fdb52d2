"""The API's routes, one module per resource, each a function building an APIRouter from what
its routes need; :func:`adapters.http.create_app` assembles them."""
