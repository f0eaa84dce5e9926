"""WSGI entry point: `flask --app wsgi ...` for the CLI and dev server; `python wsgi.py` serves with waitress."""
from app import create_app

app = create_app()

if __name__ == "__main__":
    from app.web.serve import serve

    serve(app)
