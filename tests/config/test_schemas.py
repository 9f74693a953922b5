from evals.config.schemas import SCHEMA_DIR, json_schemas, render


def test_committed_json_schemas_match_the_models():
    for name, schema in json_schemas().items():
        path = SCHEMA_DIR / name
        assert path.is_file(), f"missing {path}: run python -m evals.config.schemas"
        assert path.read_text() == render(schema), f"{path} is stale: run python -m evals.config.schemas"


def test_schema_forbids_unknown_keys():
    schema = json_schemas()["models.schema.json"]
    assert schema["additionalProperties"] is False
