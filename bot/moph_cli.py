"""Staff commands for MOPH Alert (issue 5). To be built."""

from flask.cli import AppGroup

moph_cli = AppGroup("moph", help="Push appointment notices through MOPH Alert (หมอพร้อม).")
