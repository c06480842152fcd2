from handlers.app import wsgi_app

app = wsgi_app()
