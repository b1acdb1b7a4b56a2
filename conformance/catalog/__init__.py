"""HMIPv6 requirements catalog: extraction from the specifications and the curated catalog.

* :mod:`conformance.catalog.extract` -- normative-sentence extractor (normalisation rules
  in its docstring);
* :mod:`conformance.catalog.model` -- :class:`Requirement`, :func:`load_catalog`,
  validation and JSON export;
* :mod:`conformance.catalog.bootstrap` -- generates the initial catalog skeleton.
"""

from conformance.catalog.model import (
    BINDING, Catalog, CatalogError, Inconsistency, Requirement, load_catalog, parse_catalog,
)

__all__ = ["BINDING", "Catalog", "CatalogError", "Inconsistency", "Requirement",
           "load_catalog", "parse_catalog"]
