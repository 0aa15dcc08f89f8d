"""IdoSell Admin API v6 payload models, written from the official operation specs.

The sandbox validates every request with these models (a body that does not match gets HTTP 422, as the real
API does). They cover the operations tradecredit uses: ``GET``/``PUT clients/clients``,
``PUT clients/externalCode``, ``POST orders/orders``, ``PUT orders/orders`` and ``POST orders/orders/search``.

Client objects are strict (every field the spec lists, unknown fields rejected), so a typo in what the target
sends fails loudly. Order objects model the fields the sandbox acts on and accept the spec's other fields
unvalidated (``extra="allow"``): the sandbox ignores them.

JSON numbers are parsed as ``Decimal`` (``json.loads(..., parse_float=Decimal)``) so amounts stay exact; a
string where the spec says ``number`` is a 422, as is a number where it says ``string``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

API_PREFIX = "/api/admin/{version}/"
MAX_ELEMENTS = 100


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


EMPTY_RESULT = {"faultCode": 2, "faultString": "Empty result"}
TOO_MANY = f"Too many elements were included in a single request Maximum number of elements: {MAX_ELEMENTS}"

CLIENT_RETURN_ELEMENTS = _names(
    "clientId clientsLastModificationDate clientLogin clientEmail clientType showClientAsPartner "
    "blockAutomaticallyAssigningGroupDiscount clientFirstName clientLastName clientBirthDate clientFirm clientNip "
    "clientStreet clientZipCode clientCity clientCountryId langId currencyId clientRegionId clientIsWholesaler "
    "clientVatPreferences clientGroupDiscountNumber clientGroupDiscountName clientCodeExternal clientPhone1 "
    "clientPhone2 clientProvinceId newsletterEmailApprovalsData shops clientBalances clientTradeCredit "
    "clientLoyaltyPoints operator isUnregistered affiliateLogin affiliateId clientRegistrationDate "
    "clientActiveInShops"
)
API_FLAGS = ("none", "registered", "realized", "registered_pos", "realized_pos", "registration_fault")
PAYMENT_TYPES = ("cash_on_delivery", "prepaid", "tradecredit")
ApiFlag = Literal["none", "registered", "realized", "registered_pos", "realized_pos", "registration_fault"]


def _number(value: Any) -> Any:
    """A JSON number (int or float/Decimal), never a string or a boolean."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(f"must be a JSON number, got {type(value).__name__}")
    return Decimal(str(value))


def _integer(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be a JSON integer, got {type(value).__name__}")
    return value


def _string(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError(f"must be a JSON string, got {type(value).__name__}")
    return value


def _boolean(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError(f"must be a JSON boolean, got {type(value).__name__}")
    return value


Num = Annotated[Decimal, BeforeValidator(_number)]
Int = Annotated[int, BeforeValidator(_integer)]
Str = Annotated[str, BeforeValidator(_string)]
Bool = Annotated[bool, BeforeValidator(_boolean)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- PUT clients/clients ------------------------------------------------------------------------------------
class DeliveryDate(_Strict):
    deliveryDate: Str | None = None
    deliveryHours: list[Str] | None = None


class EmailApproval(_Strict):
    inNewsletterEmailApproval: Literal["y", "n"] | None = None
    shopId: Int | None = None


class SmsApproval(_Strict):
    inNewsletterSmsApproval: Literal["y", "n"] | None = None
    shopId: Int | None = None


class ClientPut(_Strict):
    clientLogin: Str | None = None
    clientEmail: Str | None = None
    clientFirstName: Str | None = None
    clientLastName: Str | None = None
    clientStreet: Str | None = None
    clientZipCode: Str | None = None
    clientCity: Str | None = None
    clientCountryId: Str | None = None
    clientProvinceId: Str | None = None
    clientPassword: Str | None = None
    clientBirthDate: Str | None = None
    clientPhone1: Str | None = None
    clientFirm: Str | None = None
    clientNip: Str | None = None
    clientIsWholesaler: Bool | None = None
    clientType: Literal["person", "person_male", "person_female", "firm"] | None = None
    langId: Str | None = None
    blockLoginToOtherShops: Bool | None = None
    shopsIds: list[Int] | None = None
    currencyId: Str | None = None
    clientCodeExternal: Str | None = None
    deliveryDates: list[DeliveryDate] | None = None
    clientBalanceAmountExternal: Num | None = None
    clientTradeCreditLimitExternal: Num | None = None
    newsletterEmailApproval: Bool | None = None
    newsletterSmsApproval: Bool | None = None
    clientGroupDiscountNumber: Int | None = None
    requestReference: Str | None = None
    newsletterEmailApprovalsData: list[EmailApproval] | None = None
    newsletterSmsApprovalsData: list[SmsApproval] | None = None
    clientActive: Bool | None = None
    numberOfDaysToPay: Int | None = None
    affiliateLogin: Str | None = None
    affiliateId: Int | None = None
    clientNote: Str | None = None


class ClientsPutParams(_Strict):
    clients: list[ClientPut] = Field(default_factory=list)


class ClientsSettings(_Strict):
    clientSettingSendMail: Bool | None = None
    clientSettingSendSms: Bool | None = None


class ClientsPutRequest(_Strict):
    params: ClientsPutParams
    clientsSettings: ClientsSettings | None = None


# --- PUT clients/externalCode -------------------------------------------------------------------------------
class ExternalCodeParams(_Strict):
    client_id: Int | None = None
    client_login: Str | None = None
    code_extern: Str | None = None


class ExternalCodeRequest(_Strict):
    params: ExternalCodeParams


# --- GET clients/clients (query) ----------------------------------------------------------------------------
CLIENTS_GET_PARAMS = _names(
    "clientsIds clientCodesExternal clientTextSearch clientIsActive clientHasTradeCredit clientLastPurchaseDate "
    "clientsLastModificationDate returnElements resultsPage resultsLimit clientRegistrationDate shopId"
)


class ClientsQuery(_Strict):
    clientsIds: list[int] | None = None
    clientCodesExternal: list[str] | None = None
    clientTextSearch: str | None = None
    clientIsActive: Literal["yes", "no"] | None = None
    clientHasTradeCredit: Literal["nonzero", "positive", "negative", "zero"] | None = None
    returnElements: list[str] | None = None
    resultsPage: int = Field(0, ge=0)
    resultsLimit: int = Field(100, ge=1, le=MAX_ELEMENTS)
    shopId: str | None = None

    @classmethod
    def from_query(cls, items: list[tuple[str, str]]) -> ClientsQuery:
        """Parse ``style: form, explode: false`` arrays (comma lists); deepObject date filters are ignored."""
        raw: dict[str, Any] = {}
        for name, value in items:
            base = name.split("[", 1)[0]
            if base not in CLIENTS_GET_PARAMS:
                raise ValueError(f"unknown query parameter {name!r}")
            if "[" in name:
                continue  # deepObject date ranges: accepted, not used by the sandbox
            if base in ("clientsIds", "clientCodesExternal", "returnElements"):
                raw[base] = [v for v in value.split(",") if v != ""]
            else:
                raw[base] = value
        query = cls.model_validate(raw)
        unknown = set(query.returnElements or ()) - CLIENT_RETURN_ELEMENTS
        if unknown:
            raise ValueError(f"returnElements: unknown element(s) {', '.join(sorted(unknown))}")
        return query


# --- orders -------------------------------------------------------------------------------------------------
class OrderProduct(_Open):
    productId: Int | None = None
    sizeId: Str | None = None
    productQuantity: Num = Decimal(1)
    productRetailPrice: Num = Decimal(0)


class OrderPost(_Open):
    orderType: Str | None = None
    shopId: Int | None = None
    orderPaymentType: Literal["cash_on_delivery", "prepaid", "tradecredit"] | None = None
    currencyId: Str | None = None
    clientLogin: Str | None = None
    deliveryCost: Num | None = None
    orderRebateValue: Num | None = None
    products: list[OrderProduct] = Field(default_factory=list)


class OrdersPostParams(_Strict):
    orders: list[OrderPost] = Field(min_length=1)


class OrdersPostRequest(_Strict):
    params: OrdersPostParams


class OrderPut(_Open):
    orderId: Str | None = None
    orderSerialNumber: Int | None = None
    orderStatus: Str | None = None
    apiFlag: ApiFlag | None = None
    orderPaymentType: Literal["cash_on_delivery", "prepaid", "tradecredit"] | None = None


class OrdersPutParams(_Strict):
    orders: list[OrderPut] = Field(min_length=1)


class OrdersPutRequest(_Strict):
    params: OrdersPutParams


class SearchClient(_Open):
    clientLogin: Str | None = None
    clientId: Int | None = None


class OrdersSearchParams(_Open):
    orderPaymentType: Str | None = None
    ordersIds: list[Str] | None = None
    ordersSerialNumbers: list[Int] | None = None
    clients: list[SearchClient] | None = None
    resultsPage: Int = 0
    resultsLimit: Int = Field(100, ge=1, le=MAX_ELEMENTS)


class OrdersSearchRequest(_Strict):
    params: OrdersSearchParams = Field(default_factory=OrdersSearchParams)
