"""Rule materialize_model: one model as a safetensors checkpoint artifact."""

from pathlib import Path

from assay.artifacts import ArtifactRef, publish
from assay.jobs import logged
from assay.models import materialize


def main(sm) -> None:
    with logged(sm.log[0]):
        ref = ArtifactRef.from_params(sm.params.artifact, Path(sm.output.manifest).parent)
        spec = ref.spec
        with publish(ref) as staging:
            staging.record(**materialize(spec["source"], spec["dtype"], spec["revision"], staging.dir))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
