"""The unique-header rule (spec: "Column names are unique")."""

from __future__ import annotations

import polars as pl
import pytest

from reports_pipeline.columns import Column, fixed, headed

pytestmark = pytest.mark.fast  # needs no service: make test-fast

STATIC = fixed({"Contact ID": pl.col("id"), "Email": pl.col("email")})


def field(label: str, key: str) -> Column:
    return Column(label, pl.col(f"cf:{key}"), "custom field", key)


def test_a_label_equal_to_a_fixed_column_is_qualified_and_the_fixed_one_kept() -> None:
    header = headed([*STATIC, field("Email", "email_2"), field("City", "city")])
    assert list(header) == ["Contact ID", "Email", "Email (custom field email_2)", "City"]
    assert str(header["Email"]) == str(pl.col("email"))


def test_labels_two_keys_share_are_both_qualified_in_any_order() -> None:
    one = headed([*STATIC, field("Company", "company"), field("Company", "company_name")])
    other = headed([*STATIC, field("Company", "company_name"), field("Company", "company")])
    expected = {"Company (custom field company)", "Company (custom field company_name)"}
    assert set(one) - {"Contact ID", "Email"} == expected == set(other) - {"Contact ID", "Email"}


def test_a_label_that_looks_qualified_still_gets_a_name_of_its_own() -> None:
    header = headed(
        [*STATIC, field("Email", "email_2"), field("Email (custom field email_2)", "odd")]
    )
    assert len(header) == 4
    assert list(header)[2:] == [
        "Email (custom field email_2)",
        "Email (custom field email_2) (2)",
    ]
