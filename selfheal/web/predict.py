"""POST /predict: validate, score and commit, then answer."""

from __future__ import annotations

from flask import Blueprint, Response, g

from selfheal.web.common import body, current_service, instances, model_or_503, ok, validate_many

bp = Blueprint("predict", __name__)


@bp.post("/predict")
def predict() -> Response:
    service = current_service()
    data = body()
    model = model_or_503()
    g.model_version = model.version
    records, batch = instances(data, "instances")
    g.n_records = len(records)
    valid = validate_many(model, records)
    results = service.writer.predict(model, valid, started=g.t0)
    if batch:
        return ok({"model_version": model.version, "predictions": results})
    return ok(results[0])
