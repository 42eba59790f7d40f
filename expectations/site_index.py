"""The index page of the Data Docs site (`expectations.data_docs`): GX's own, listing what the context's stores
hold rather than the pages of the folder it is built in, which holds the pages of one run only (those of earlier
runs are already in the site). GX loads it by name from the site's config; it imports GX, so nothing else imports
it."""
from __future__ import annotations

from great_expectations.render.renderer.site_builder import DefaultSiteIndexBuilder


class ListedIndexBuilder(DefaultSiteIndexBuilder):
    def _source_keys(self, section: str) -> list:
        return self.data_context.stores[self.site_section_builders_config[section]["source_store_name"]].list_keys()

    def _add_expectations_to_index_links(self, index_links_dict, skip_and_clean_missing) -> None:
        for key in sorted(self._source_keys("expectations"), key=lambda k: k.name):
            self.add_resource_info_to_index_links_dict(index_links_dict=index_links_dict,
                                                       expectation_suite_name=key.name, section_name="expectations")

    def _build_validation_and_profiling_result_site_keys(self, skip_and_clean_missing) -> list:
        return list(self._source_keys("validations"))
