"""Completion webhooks: register, list and remove an organisation's endpoints, and read
each endpoint's deliveries with every attempt and answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from fastapi.exceptions import RequestValidationError

from api import errors
from api.auth import ReportsAdmin
from api.deps import WebhooksDep
from api.routes.reports import BASE, OrganisationId, error_responses
from api.schemas import (
    DeliveryListPublic,
    DeliveryPublic,
    WebhookCreated,
    WebhookListPublic,
    WebhookPublic,
)
from reports_pipeline.job_table import Requester
from reports_pipeline.webhooks import UnsafeEndpoint, WebhookCreate

router = APIRouter(
    prefix=f"{BASE}/webhooks",
    tags=["Webhooks"],
    responses=error_responses("Webhook not found"),
)
WebhookId = Annotated[str, Path(alias="webhookId", max_length=64)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    summary="Register an endpoint for report.completed, report.failed, report.canceled",
    description="The answer shows the signing secret once. In production the URL must be "
    "HTTPS and resolve only to public addresses (checked again at each delivery).",
)
def register_webhook(
    principal: ReportsAdmin,
    organisation_id: OrganisationId,
    body: WebhookCreate,
    webhooks: WebhooksDep,
) -> WebhookCreated:
    by = Requester(principal.sub, principal.email, principal.name)
    try:
        row, secret = webhooks.register(organisation_id, body, by)
    except UnsafeEndpoint as refused:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", "url"), "msg": str(refused)}]
        ) from None
    return WebhookCreated(**WebhookPublic.of(row).model_dump(), secret=secret)


@router.get("", response_model=WebhookListPublic, summary="List the endpoints")
def list_webhooks(
    principal: ReportsAdmin, organisation_id: OrganisationId, webhooks: WebhooksDep
) -> WebhookListPublic:
    rows = webhooks.of(organisation_id)
    return WebhookListPublic(items=[WebhookPublic.of(row) for row in rows])


@router.delete(
    "/{webhookId}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove an endpoint (its pending deliveries are dropped)",
)
def delete_webhook(
    principal: ReportsAdmin,
    organisation_id: OrganisationId,
    webhook_id: WebhookId,
    webhooks: WebhooksDep,
) -> Response:
    if not webhooks.delete(organisation_id, webhook_id):
        raise errors.WebhookNotFound()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{webhookId}/deliveries",
    response_model=DeliveryListPublic,
    summary="The endpoint's latest deliveries, each with its attempts and answers",
)
def list_deliveries(
    principal: ReportsAdmin,
    organisation_id: OrganisationId,
    webhook_id: WebhookId,
    webhooks: WebhooksDep,
) -> DeliveryListPublic:
    book = webhooks
    if book.get(organisation_id, webhook_id) is None:
        raise errors.WebhookNotFound()
    found = book.deliveries_of(organisation_id, webhook_id)
    return DeliveryListPublic(items=[DeliveryPublic.of(d) for d in found])
