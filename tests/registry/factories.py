"""Factories for registry objects (factory_boy)."""

import factory

from registry.models import AISystem, DataSource, MetricSpec, ModelVersion, content_hash


class AISystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AISystem

    slug = factory.Sequence(lambda n: f"system-{n}")
    name = factory.Sequence(lambda n: f"System {n}")
    business_unit = "Retail banking"
    risk_tier = "medium"


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    system = factory.SubFactory(AISystemFactory)
    version = factory.Sequence(lambda n: f"1.{n}.0")
    artifact_uri = factory.LazyAttribute(lambda o: f"s3://models/{o.system.slug}/{o.version}")
    content_hash = factory.LazyAttribute(
        lambda o: content_hash(version=o.version, artifact_uri=o.artifact_uri, parameters={})
    )


class MetricSpecFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MetricSpec

    system = factory.SubFactory(AISystemFactory)
    key = "output_quality"
    name = "Output quality"
    kind = "quality"
    direction = "higher_is_better"
    warning = 0.9
    critical = 0.8
    aggregation = "mean"


def loan_classifier():
    """The system of docs/api.md: two metrics (one p95) and version 2.1.0."""
    system = AISystemFactory(slug="loan-classifier")
    MetricSpecFactory(system=system, key="output_quality")
    MetricSpecFactory(
        system=system,
        key="latency_ms",
        kind="latency",
        direction="lower_is_better",
        warning=800,
        critical=1500,
        aggregation="p95",
    )
    ModelVersionFactory(system=system, version="2.1.0")
    return system


class DataSourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DataSource
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"source-{n}")
    name = factory.Sequence(lambda n: f"Source {n}")
    kind = "crm"
    expected_interval_seconds = 3600
    expected_schema = factory.LazyFunction(lambda: {"amount": "float", "channel": "string"})

    @factory.post_generation
    def systems(self, create, extracted, **kwargs):
        if create and extracted:
            self.systems.set(extracted)
