"""An import-linter contract type of ours: each package's public API.

A package is imported from outside through its public modules only: the package itself
(its __init__ re-exports what others may use) and any module listed as public. Inside a
package anything goes. Registered in pyproject.toml ([tool.importlinter] contract_types),
run by `lint-imports` in `make test`.
"""

from __future__ import annotations

from typing import Any

import grimp
from importlinter import Contract, ContractCheck, fields, output


class PublicApiContract(Contract):
    type_name = "public_api"

    packages = fields.ListField(subfield=fields.StringField())
    # Submodules others may import too (e.g. "recorder.manifest": the evidence format).
    public_modules = fields.ListField(subfield=fields.StringField(), required=False)

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        packages = set(self.packages)  # type: ignore[call-overload]
        public = packages | set(self.public_modules or ())  # type: ignore[call-overload]
        illegal: list[dict[str, Any]] = []
        for importer in sorted(graph.modules):
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                home = imported.split(".")[0]
                if home not in packages or importer.split(".")[0] == home or imported in public:
                    continue
                details = graph.get_import_details(importer=importer, imported=imported)
                lines = sorted({d["line_number"] for d in details})
                illegal.append({"importer": importer, "imported": imported, "lines": lines})
        return ContractCheck(kept=not illegal, warnings=[], metadata={"illegal": illegal})

    def render_broken_contract(self, check: ContractCheck) -> None:
        output.print_error("Import a package's public API (its __init__ or a public module):")
        output.new_line()
        for link in check.metadata["illegal"]:
            lines = ", ".join(map(str, link["lines"]))
            output.print_error(f"- {link['importer']} -> {link['imported']} (l.{lines})", False)
            output.new_line()
