"""The audit trail's vocabulary: every action an event can record, by name.

A compliance report reads the trail by these names, so a value never changes: a new action is a
new member. An endpoint names its action in its decorator (`name=Action.GET_PATIENT`), which is
also its OpenAPI operationId; app.requests.rules refuses to build the app when an endpoint names
none, or one another endpoint names. docs/operations/audit-actions.md lists them all, and a test
holds it to this list.
"""

from enum import StrEnum, unique


@unique
class Action(StrEnum):
    # The API's endpoints, each its own.
    LIST_PATIENTS = "list_patients"
    CREATE_PATIENT = "create_patient"
    GET_PATIENT = "get_patient"
    REPLACE_PATIENT = "replace_patient"
    UPDATE_PATIENT = "update_patient"
    DELETE_PATIENT = "delete_patient"
    ADD_TAG = "add_tag"
    REMOVE_TAG = "remove_tag"
    ADD_SESSION = "add_session"
    LIST_DELETED_PATIENTS = "list_deleted_patients"
    RESTORE_DELETED_PATIENT = "restore_deleted_patient"
    LIST_PATIENT_HISTORY = "list_patient_history"
    GET_PATIENT_VERSION = "get_patient_version"
    RESTORE_PATIENT_VERSION = "restore_patient_version"
    UPDATE_WALLET = "update_wallet"
    LIST_WALLET_TRANSACTIONS = "list_wallet_transactions"
    UPLOAD_PROFILE_PICTURE = "upload_profile_picture"
    GET_PROFILE_PICTURE = "get_profile_picture"
    DELETE_PROFILE_PICTURE = "delete_profile_picture"
    CREATE_APPOINTMENT_SERIES = "create_appointment_series"
    GET_APPOINTMENT_SERIES = "get_appointment_series"
    CANCEL_APPOINTMENT_SERIES = "cancel_appointment_series"
    LIST_APPOINTMENTS = "list_appointments"
    CREATE_APPOINTMENT = "create_appointment"
    GET_APPOINTMENT = "get_appointment"
    UPDATE_APPOINTMENT = "update_appointment"
    CANCEL_APPOINTMENT = "cancel_appointment"
    LIST_PROGRESS_NOTES = "list_progress_notes"
    CREATE_PROGRESS_NOTE = "create_progress_note"
    GET_PROGRESS_NOTE = "get_progress_note"
    UPDATE_PROGRESS_NOTE = "update_progress_note"
    SIGN_PROGRESS_NOTE = "sign_progress_note"
    ADD_PROGRESS_NOTE_ADDENDUM = "add_progress_note_addendum"
    COSIGN_PROGRESS_NOTE = "cosign_progress_note"
    WITHHOLD_PROGRESS_NOTE = "withhold_progress_note"
    LIST_PSYCHOTHERAPY_NOTES = "list_psychotherapy_notes"
    CREATE_PSYCHOTHERAPY_NOTE = "create_psychotherapy_note"
    GET_PSYCHOTHERAPY_NOTE = "get_psychotherapy_note"
    AUTHORIZE_PSYCHOTHERAPY_NOTE_DISCLOSURE = "authorize_psychotherapy_note_disclosure"
    LIST_PSYCHOTHERAPY_NOTE_AUTHORIZATIONS = "list_psychotherapy_note_authorizations"
    REVOKE_PSYCHOTHERAPY_NOTE_AUTHORIZATION = "revoke_psychotherapy_note_authorization"
    DISCLOSE_PSYCHOTHERAPY_NOTE = "disclose_psychotherapy_note"
    LOGOUT = "logout"
    CREATE_CALENDAR_FEED = "create_calendar_feed"
    DELETE_CALENDAR_FEED = "delete_calendar_feed"
    GET_CALENDAR_FEED = "get_calendar_feed"
    LIST_THERAPISTS = "list_therapists"
    GET_THERAPIST = "get_therapist"
    UPDATE_THERAPIST = "update_therapist"
    GET_THERAPIST_HOURS = "get_therapist_hours"
    REPLACE_THERAPIST_HOURS = "replace_therapist_hours"
    LIST_THERAPIST_TIME_OFF = "list_therapist_time_off"
    CREATE_THERAPIST_TIME_OFF = "create_therapist_time_off"
    DELETE_THERAPIST_TIME_OFF = "delete_therapist_time_off"
    GET_THERAPIST_AVAILABILITY = "get_therapist_availability"
    LIST_DOCUMENTS = "list_documents"
    UPLOAD_DOCUMENT = "upload_document"
    GET_DOCUMENT = "get_document"
    DOWNLOAD_DOCUMENT = "download_document"
    UPDATE_DOCUMENT = "update_document"
    DELETE_DOCUMENT = "delete_document"
    LIST_AUDIT_EVENTS = "list_audit_events"
    LIST_BILLABLE_SERVICES = "list_billable_services"
    CREATE_BILLABLE_SERVICE = "create_billable_service"
    GET_BILLABLE_SERVICE = "get_billable_service"
    UPDATE_BILLABLE_SERVICE = "update_billable_service"
    DELETE_BILLABLE_SERVICE = "delete_billable_service"
    GET_SLIDING_SCALE = "get_sliding_scale"
    SET_SLIDING_SCALE = "set_sliding_scale"
    DELETE_SLIDING_SCALE = "delete_sliding_scale"
    LIST_INVOICES = "list_invoices"
    CREATE_INVOICE = "create_invoice"
    GET_INVOICE = "get_invoice"
    UPDATE_INVOICE = "update_invoice"
    DELETE_INVOICE = "delete_invoice"
    ISSUE_INVOICE = "issue_invoice"
    VOID_INVOICE = "void_invoice"
    WRITE_OFF_INVOICE = "write_off_invoice"
    LIST_PAYMENT_METHODS = "list_payment_methods"
    GET_CARD_CONSENT = "get_card_consent"
    CREATE_CARD_SETUP = "create_card_setup"
    COMPLETE_CARD_SETUP = "complete_card_setup"
    DELETE_PAYMENT_METHOD = "delete_payment_method"
    SET_DEFAULT_PAYMENT_METHOD = "set_default_payment_method"
    GET_AUTOPAY = "get_autopay"
    SET_AUTOPAY = "set_autopay"

    # The API's endpoints without a caller (app.requests.rules.NO_CALLER): each audits itself.
    LOGIN = "login"
    REFRESH_TOKEN = "refresh_token"
    PASSWORD_RESET_REQUEST = "password_reset_request"
    PASSWORD_RESET = "password_reset"

    # A booking outside the therapist's hours, which an admin may make (AppointmentService).
    CREATE_APPOINTMENT_OVERRIDING = "create_appointment:override_availability"
    CREATE_APPOINTMENT_SERIES_OVERRIDING = "create_appointment_series:override_availability"
    ADMIN_CREATE_APPOINTMENT_OVERRIDING = "admin_create_appointment:override_availability"

    # The admin (app.admin).
    ADMIN_LOGIN = "admin_login"
    ADMIN_LIST_PATIENTS = "admin_list_patients"
    ADMIN_GET_PATIENT = "admin_get_patient"
    ADMIN_CREATE_PATIENT = "admin_create_patient"
    ADMIN_UPDATE_PATIENT = "admin_update_patient"
    ADMIN_DELETE_PATIENT = "admin_delete_patient"
    ADMIN_UPDATE_WALLET = "admin_update_wallet"
    ADMIN_GET_PICTURE = "admin_get_picture"
    ADMIN_PATIENT_HISTORY = "admin_patient_history"
    ADMIN_RESTORE_PATIENT_VERSION = "admin_restore_patient_version"
    ADMIN_LIST_DELETED_PATIENTS = "admin_list_deleted_patients"
    ADMIN_RESTORE_DELETED_PATIENT = "admin_restore_deleted_patient"
    ADMIN_LIST_APPOINTMENTS = "admin_list_appointments"
    ADMIN_CREATE_APPOINTMENT = "admin_create_appointment"
    ADMIN_CANCEL_APPOINTMENT = "admin_cancel_appointment"
    ADMIN_LIST_THERAPISTS = "admin_list_therapists"
    ADMIN_LIST_STAFF = "admin_list_staff"
    ADMIN_GET_STAFF = "admin_get_staff"
    ADMIN_CREATE_STAFF = "admin_create_staff"
    ADMIN_RESET_STAFF_PASSWORD = "admin_reset_staff_password"
    ADMIN_DEACTIVATE_STAFF = "admin_deactivate_staff"
    ADMIN_REACTIVATE_STAFF = "admin_reactivate_staff"
    ADMIN_CHANGE_OWN_PASSWORD = "admin_change_own_password"
    ADMIN_LIST_AUDIT_EVENTS = "admin_list_audit_events"
    ADMIN_GET_AUDIT_EVENT = "admin_get_audit_event"

    # The command line (python -m app).
    CLI_CREATE_STAFF = "cli_create_staff"
    CLI_RESET_STAFF_PASSWORD = "cli_reset_staff_password"
    CLI_ACTIVATE_STAFF = "cli_activate_staff"
    CLI_DEACTIVATE_STAFF = "cli_deactivate_staff"
    CLI_PURGE_PATIENT = "cli_purge_patient"


# The action of a booking that overrides the therapist's availability, by the booking's own.
OVERRIDING_AVAILABILITY = {
    Action.CREATE_APPOINTMENT: Action.CREATE_APPOINTMENT_OVERRIDING,
    Action.CREATE_APPOINTMENT_SERIES: Action.CREATE_APPOINTMENT_SERIES_OVERRIDING,
    Action.ADMIN_CREATE_APPOINTMENT: Action.ADMIN_CREATE_APPOINTMENT_OVERRIDING,
}
