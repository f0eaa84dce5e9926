"""Extensions, created unbound here and attached in the app factory."""
from __future__ import annotations

from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base for the copier's tables."""


db = SQLAlchemy(model_class=Base)
csrf = CSRFProtect()
