from handlers.app import create_app

app = create_app()
