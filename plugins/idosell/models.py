"""IdoSell Admin API v6 payload models, written from the official operation specs.

The sandbox validates every request with these models (a body that does not match gets HTTP 422, as the real
API does). They cover the operations tradecredit uses: ``GET``/``PUT clients/clients``,
``PUT clients/externalCode``, ``POST orders/orders``, ``PUT orders/orders`` and ``POST orders/orders/search``.

Every request object is strict: each field the spec lists is modelled with its JSON type, and unknown fields are
rejected (the published objects have closed property lists), so a typo in what a client sends fails loudly. The
sandbox acts on a few of the fields and ignores the rest once validated.

JSON numbers are parsed as ``Decimal`` (``json.loads(..., parse_float=Decimal)``) so amounts stay exact; a
string where the spec says ``number`` is a 422, as is a number where it says ``string``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

DEFAULT_API_KEY = "sandbox-key"
"""The sandbox's key with every scope (``tradecredit sandbox idosell`` and ``start_sandbox`` default to it)."""

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
# The billing fields tradecredit writes with ``PUT clients/clients`` (all ``string`` in the v6 spec except
# ``numberOfDaysToPay``, an ``integer``), with where ``GET clients/clients`` returns them: in
# ``clientBillingAddress`` except ``clientEmail`` (top level); ``numberOfDaysToPay`` is not returned at all.
BILLING_FIELDS = ("clientFirm", "clientNip", "clientStreet", "clientZipCode", "clientCity", "clientCountryId",
                  "clientProvinceId", "clientPhone1", "clientEmail", "numberOfDaysToPay")
BILLING_ADDRESS_FIELDS = ("clientFirm", "clientNip", "clientStreet", "clientZipCode", "clientCity", "clientCountryId",
                          "clientProvinceId", "clientPhone1")
# The v6 spec gives no maximum lengths [I]: these are what the sandbox accepts and what the target refuses to send
# by default (option ``billing_max_lengths`` changes them; docs/billing.md). Values longer than the shop's form
# fields would be cut or refused by the panel, so a too-long ERP value rejects that customer's billing data.
BILLING_MAX_LENGTHS: dict[str, int] = {
    "clientFirm": 200, "clientNip": 30, "clientStreet": 200, "clientZipCode": 20, "clientCity": 100,
    "clientCountryId": 2, "clientProvinceId": 20, "clientPhone1": 50, "clientEmail": 100,
}
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
# Every object the three order operations' specs describe has a closed list of properties, so the models are
# strict like the client ones: an unknown or misspelt field, or a value of the wrong JSON type, is a 422. The
# sandbox acts on a few fields only; the others are validated and then ignored.
PaymentType = Literal["cash_on_delivery", "prepaid", "tradecredit"]
SettledAtPrice = Literal["gross", "net", "net_without_VAT"]


class BundleItem(_Strict):
    productId: Int | None = None
    sizeId: Str | None = None
    sizePanelName: Str | None = None
    productIndex: Str | None = None


class DiscountCode(_Strict):
    name: Str | None = None


class OrderProduct(_Strict):
    productId: Int | None = None
    sizeId: Str | None = None
    productSizeCodeExternal: Str | None = None
    stockId: Int | None = None
    productQuantity: Num = Decimal(1)
    productRetailPrice: Num = Decimal(0)
    productFree: Bool | None = None
    forceLoyaltyPoints: Num | None = None
    productVat: Num | None = None
    productVatFree: Str | None = None
    discountCode: DiscountCode | None = None
    remarksToProduct: Str | None = None
    label: Str | None = None
    productBundleItems: list[BundleItem] | None = None


class ClientWithoutAccountData(_Strict):
    clientFirstName: Str | None = None
    clientLastName: Str | None = None
    clientFirm: Str | None = None
    clientNip: Str | None = None
    clientStreet: Str | None = None
    clientZipCode: Str | None = None
    clientCity: Str | None = None
    clientCountry: Str | None = None
    clientEmail: Str | None = None
    clientPhone1: Str | None = None
    clientPhone2: Str | None = None
    langId: Str | None = None


class DeliveryAddress(_Strict):
    clientDeliveryAddressFirstName: Str | None = None
    clientDeliveryAddressLastName: Str | None = None
    clientDeliveryAddressAdditional: Str | None = None
    clientDeliveryAddressStreet: Str | None = None
    clientDeliveryAddressZipCode: Str | None = None
    clientDeliveryAddressCity: Str | None = None
    clientDeliveryAddressCountry: Str | None = None
    clientDeliveryAddressPhone: Str | None = None


class PayerAddress(_Strict):
    payerAddressId: Int | None = None
    payerAddressFirstName: Str | None = None
    payerAddressLastName: Str | None = None
    payerAddressFirm: Str | None = None
    payerAddressNip: Str | None = None
    payerAddressStreet: Str | None = None
    payerAddressZipCode: Str | None = None
    payerAddressCity: Str | None = None
    payerAddressCountryId: Str | None = None
    payerAddressPhone: Str | None = None


class OrderPostSettings(_Strict):
    settingSendMail: Bool | None = None
    settingSendSMS: Bool | None = None


class OrderPost(_Strict):
    orderType: Str | None = None
    shopId: Int | None = None
    stockId: Int | None = None
    orderPaymentType: PaymentType | None = None
    currencyId: Str | None = None
    clientWithoutAccount: Str | None = None
    clientWithoutAccountData: ClientWithoutAccountData | None = None
    clientLogin: Str | None = None
    clientNoteToOrder: Str | None = None
    clientNoteToCourier: Str | None = None
    affiliateId: Int | None = None
    courierId: Int | None = None
    pickupPointId: Str | None = None
    deliveryCost: Num | None = None
    clientDeliveryAddress: DeliveryAddress | None = None
    payerAddress: PayerAddress | None = None
    products: list[OrderProduct] = Field(default_factory=list)
    orderRebateValue: Num | None = None
    orderOperatorLogin: Str | None = None
    ignoreBridge: Bool | None = None
    settings: OrderPostSettings | None = None
    orderSettledAtPrice: SettledAtPrice | None = None
    clientRequestInvoice: Str | None = None
    billingCurrency: Str | None = None
    billingCurrencyRate: Num | None = None
    purchaseDate: Str | None = None


class OrdersPostParams(_Strict):
    orders: list[OrderPost] = Field(min_length=1)


class OrdersPostRequest(_Strict):
    params: OrdersPostParams


class FormulaValue(_Strict):
    valueId: Str | None = None


class FormulaParameter(_Strict):
    parameterId: Str | None = None
    parameterValue: Str | None = None
    parameterValues: list[FormulaValue] | None = None


class OrderPutProduct(_Strict):
    productId: Int | None = None
    sizeId: Str | None = None
    productSizeCodeExternal: Str | None = None
    basketPosition: Int | None = None
    stockId: Int | None = None
    productFree: Bool | None = None
    forceLoyaltyPoints: Num | None = None
    productQuantity: Num | None = None
    productQuantityOperationType: Literal["add", "substract"] | None = None
    productRetailPrice: Num | None = None
    productVat: Num | None = None
    productVatFree: Str | None = None
    remarksToProduct: Str | None = None
    label: Str | None = None
    productBundleItems: list[BundleItem] | None = None
    priceFormulaParameters: list[FormulaParameter] | None = None


class OrderPutSettings(_Strict):
    dontSendMail: Literal["y", "n"] | None = None
    dontSendSMS: Literal["y", "n"] | None = None


class OrderPut(_Strict):
    orderId: Str | None = None
    orderSerialNumber: Int | None = None
    orderStatus: Str | None = None
    apiFlag: ApiFlag | None = None
    apiNoteToOrder: Str | None = None
    clientNoteToOrder: Str | None = None
    clientNoteToCourier: Str | None = None
    orderNote: Str | None = None
    products: list[OrderPutProduct] | None = None
    orderPaymentType: PaymentType | None = None
    orderSettledAtPrice: SettledAtPrice | None = None
    ignoreBridge: Bool | None = None
    settings: OrderPutSettings | None = None
    emailProcessingConsent: Literal["yes", "no", "disabled"] | None = None
    clientRequestInvoice: Str | None = None
    billingCurrency: Str | None = None
    billingCurrencyRate: Num | None = None
    purchaseDate: Str | None = None
    estimatedDeliveryDate: Str | None = None


class OrdersPutParams(_Strict):
    orders: list[OrderPut] = Field(min_length=1)


class OrdersPutRequest(_Strict):
    params: OrdersPutParams


class SearchClient(_Strict):
    clientLogin: Str | None = None
    clientId: Int | None = None
    clientFirstName: Str | None = None
    clientLastName: Str | None = None
    clientCity: Str | None = None
    clientEmail: Str | None = None
    clientHasTaxNumber: Str | None = None
    clientSearchingMode: Str | None = None
    clientFirm: Str | None = None
    clientNip: Str | None = None
    clientCountryId: Str | None = None
    clientCountryName: Str | None = None


DateType = Literal["add", "modified", "dispatch", "payment", "last_payments_operation", "declared_payments"]


class DatesType(_Strict):
    ordersDatesType: DateType | None = None


class DateRange(_Strict):
    ordersDateType: DateType | None = None
    ordersDatesTypes: list[DatesType] | None = None
    ordersDateBegin: Str | None = None
    ordersDateEnd: Str | None = None


class SerialNumberRange(_Strict):
    ordersSerialNumberBegin: Int | None = None
    ordersSerialNumberEnd: Int | None = None


class OrdersRange(_Strict):
    ordersDateRange: DateRange | None = None
    ordersSerialNumberRange: SerialNumberRange | None = None


class AuctionAccount(_Strict):
    auctionsAccountId: Int | None = None
    auctionsAccountLogin: Str | None = None


class AuctionClient(_Strict):
    auctionClientId: Str | None = None
    auctionClientLogin: Str | None = None


class AuctionsParams(_Strict):
    auctionsServicesNames: list[Str] | None = None
    auctionsItemsIds: list[Int] | None = None
    auctionsAccounts: list[AuctionAccount] | None = None
    auctionsClients: list[AuctionClient] | None = None


class OrderSource(_Strict):
    shopsMask: Int | None = None
    shopsIds: list[Int] | None = None
    auctionsParams: AuctionsParams | None = None


class SearchProduct(_Strict):
    productId: Int | None = None
    productName: Str | None = None
    sizeId: Str | None = None
    sizePanelName: Str | None = None


class Packages(_Strict):
    packagesNumbers: list[Str] | None = None
    orderHasPackageNumbers: Str | None = None
    hasMultiPackages: Literal["y", "n"] | None = None


class SearchStock(_Strict):
    stockId: Int | None = None


class Campaign(_Strict):
    campaignId: Int | None = None
    discountCodes: list[Str] | None = None


class OrderBy(_Strict):
    elementName: Str | None = None
    sortDirection: Str | None = None


class OrdersSearchParams(_Strict):
    orderPrepaidStatus: Str | None = None
    ordersStatuses: list[Str] | None = None
    shippmentStatus: Literal["all", "received", "non-received"] | None = None  # sic: the spec's spelling
    couriersName: list[Str] | None = None
    couriersId: list[Int] | None = None
    orderPaymentType: Str | None = None
    withMissingSalesDocuments: list[Str] | None = None
    orderType: Literal["wholesale", "retail", "dropshipping", "deliverer"] | None = None
    dropshippingOrderStatus: Literal["all", "finished", "canceled", "notCanceled"] | None = None
    ordersIds: list[Str] | None = None
    ordersSerialNumbers: list[Int] | None = None
    clients: list[SearchClient] | None = None
    ordersRange: OrdersRange | None = None
    orderSource: OrderSource | None = None
    products: list[SearchProduct] | None = None
    resultsPage: Int = 0
    resultsLimit: Int = Field(100, ge=1, le=MAX_ELEMENTS)
    clientRequestInvoice: Str | None = None
    packages: Packages | None = None
    stocks: list[SearchStock] | None = None
    campaign: Campaign | None = None
    loyaltyPointsMode: Literal["all", "given", "taken", "given_or_taken", "given_and_taken",
                               "not_given_nor_taken"] | None = None
    orderOperatorLogin: Str | None = None
    orderPackingPersonLogin: Str | None = None
    ordersBy: list[OrderBy] | None = None
    searchingOperatorTypeMatch: Literal["no_assignment", "no_empty", "empty"] | None = None
    ordersDelayed: Literal["y", "n"] | None = None
    showBundles: Bool | None = None
    orderExternalId: Str | None = None
    orderCurrency: Str | None = None


class OrdersSearchRequest(_Strict):
    params: OrdersSearchParams = Field(default_factory=OrdersSearchParams)
