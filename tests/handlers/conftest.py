"""Every way in, over HTTP (Flask's test client or a real server) and the CLIs (Flask's CliRunner)."""
