"""Rule materialize_model: one model as a safetensors checkpoint artifact."""

from assay.artifacts import publish
from assay.jobs import artifact_ref, logged
from assay.models import materialize


def main(sm) -> None:
    with logged(sm.log[0]):
        ref = artifact_ref(sm.params.artifact, sm.output.manifest)
        spec = ref.spec
        with publish(ref) as staging:
            staging.record(**materialize(spec["source"], spec["dtype"], spec["revision"], staging.dir))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
