"""POST /predict: validate, score and commit, then answer."""

from __future__ import annotations

from flask import Blueprint, Response, g

from selfheal.web.common import body, current_service, instances, model_or_503, ok, validate_many

bp = Blueprint("predict", __name__)


@bp.post("/predict")
def predict() -> Response:
    service = current_service()
    ctx = g._get_current_object()  # one proxy lookup, not one per use
    data = body()
    model = model_or_503()
    ctx.model_version = model.version
    records, batch = instances(data, "instances")
    ctx.n_records = len(records)
    valid = validate_many(model, records)
    results = service.writer.predict(model, valid, started=ctx.t0)
    if batch:
        return ok({"model_version": model.version, "predictions": results})
    return ok(results[0])
