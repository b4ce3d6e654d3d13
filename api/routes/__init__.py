"""One APIRouter per resource: classify, articles, comments, status (health, readiness, model, metrics), admin."""
