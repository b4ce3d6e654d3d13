"""One APIRouter per resource: classify, articles, status (health, readiness, model, metrics), admin."""
