/**
 * A typed client of the TherapyConnect Patient API.
 *
 * `schema.d.ts` is generated from the service's OpenAPI document (`make client`; it is not
 * committed), so this file compiles only while the document describes every call below: an
 * operation renamed, a parameter or field dropped or retyped, a response changed, and
 * `tsc --noEmit` fails. `PatientApi` must have one method per operation of the document.
 */
import createClient, { type Middleware } from "openapi-fetch";

import type { components, operations, paths } from "./schema";

type Schemas = components["schemas"];
export type Patient = Schemas["PatientRead"];
export type PatientCreate = Schemas["PatientCreate"];
export type PatientReplace = Schemas["PatientReplace"];
export type PatientUpdate = Schemas["PatientUpdate"];
export type SessionCreate = Schemas["SessionCreate"];
export type WalletUpdate = Schemas["WalletUpdate"];
export type Token = Schemas["Token"];
export type PasswordResetConfirm = Schemas["PasswordResetConfirm"];
export type TherapistUpdate = Schemas["TherapistUpdate"];
export type HoursUpdate = Schemas["HoursUpdate"];
export type TimeOffCreate = Schemas["TimeOffCreate"];
export type PatientListQuery = NonNullable<operations["list_patients"]["parameters"]["query"]>;
export type TherapistListQuery = NonNullable<
  operations["list_therapists"]["parameters"]["query"]
>;
export type AvailabilityQuery = NonNullable<
  operations["get_therapist_availability"]["parameters"]["query"]
>;
export type AuditQuery = NonNullable<operations["list_audit_events"]["parameters"]["query"]>;
export type AppointmentCreate = Schemas["AppointmentCreate"];
export type AppointmentUpdate = Schemas["AppointmentUpdate"];
export type AppointmentCancel = Schemas["AppointmentCancel"];
export type Appointment = Schemas["AppointmentRead"];
export type SeriesCreate = Schemas["SeriesCreate"];
export type SeriesCancel = Schemas["SeriesCancel"];
export type Series = Schemas["SeriesRead"];
export type DocumentUpdate = Schemas["DocumentUpdate"];
export type PatientDocument = Schemas["DocumentRead"];
/** A document's form fields beside its file: `appointment` must be one of the patient's. */
export interface DocumentUpload {
  title: string;
  category: "consent" | "referral" | "intake" | "other";
  appointment?: number;
}
export type AppointmentListQuery = NonNullable<
  operations["list_appointments"]["parameters"]["query"]
>;
export type NoteCreate = Schemas["NoteCreate"];
export type NoteUpdate = Schemas["NoteUpdate"];
export type Note = Schemas["NoteRead"];
export type Withholding = Schemas["Withholding"];
export type AddendumCreate = Schemas["AddendumCreate"];
export type PsychotherapyNoteCreate = Schemas["PsychotherapyNoteCreate"];
export type PsychotherapyNote = Schemas["PsychotherapyNoteRead"];
export type AuthorizationCreate = Schemas["AuthorizationCreate"];
export type PsychotherapyListQuery = NonNullable<
  operations["list_psychotherapy_notes"]["parameters"]["query"]
>;
export type BillableServiceCreate = Schemas["BillableServiceCreate"];
export type BillableServiceUpdate = Schemas["BillableServiceUpdate"];
export type BillableService = Schemas["BillableServiceRead"];
export type BillableServiceQuery = NonNullable<
  operations["list_billable_services"]["parameters"]["query"]
>;
export type SlidingScaleSet = Schemas["SlidingScaleSet"];
export type SlidingScale = Schemas["SlidingScaleRead"];
export type InvoiceCreate = Schemas["InvoiceCreate"];
export type InvoiceUpdate = Schemas["InvoiceUpdate"];
export type Invoice = Schemas["InvoiceRead"];
export type InvoiceQuery = NonNullable<operations["list_invoices"]["parameters"]["query"]>;
export type InvoiceReason = Schemas["Reason"];
export type PaymentCreate = Schemas["PaymentCreate"];
export type Payment = Schemas["PaymentRead"];
export type PaymentQuery = NonNullable<operations["list_payments"]["parameters"]["query"]>;
export type RefundCreate = Schemas["RefundCreate"];
export type TopUpCreate = Schemas["TopUpCreate"];
export type Card = Schemas["CardRead"];
export type CardSetup = Schemas["CardSetupRead"];
export type Autopay = Schemas["AutopayRead"];
export type Diagnoses = Schemas["DiagnosesRead"];
export type DiagnosesUpdate = Schemas["DiagnosesUpdate"];
export type Statement = Schemas["StatementRead"];
export type Superbill = Schemas["SuperbillRead"];
export type InstrumentList = NonNullable<operations["list_instruments"]["parameters"]["query"]>;
export type AssignmentCreate = Schemas["AssignmentCreate"];
export type MeasureAnswers = Schemas["ResponseCreate"]["answers"];
export type InSessionCreate = Schemas["InSessionCreate"];
export type Measure = Schemas["MeasureRead"];
export type Trend = Schemas["TrendRead"];
export type Alert = Schemas["AlertRead"];
export type AlertQuery = NonNullable<operations["list_alerts"]["parameters"]["query"]>;
export type StatementQuery = NonNullable<operations["get_statement"]["parameters"]["query"]>;
export type PageQuery = NonNullable<
  operations["list_wallet_transactions"]["parameters"]["query"]
>;

/** Optional headers of a write: `If-Match` (412 when stale) and, on POSTs, `Idempotency-Key`. */
export interface WriteOptions {
  ifMatch?: string;
  idempotencyKey?: string;
  /** Why a patient's record changes: kept in its history (`X-Change-Reason`). */
  reason?: string;
}

const formEncoded = (body: Record<string, string | null | undefined>): URLSearchParams => {
  const form = new URLSearchParams();
  for (const [name, value] of Object.entries(body)) {
    if (value != null) form.append(name, value);
  }
  return form;
};

/** The API, one method per operation; `token()` gives the bearer token to send, if any. */
export function createPatientApi(baseUrl: string, token: () => string | undefined = () => undefined) {
  const client = createClient<paths>({ baseUrl });
  const bearer: Middleware = {
    onRequest({ request }) {
      const value = token();
      if (value !== undefined) request.headers.set("Authorization", `Bearer ${value}`);
      return request;
    },
  };
  client.use(bearer);

  const patient = (patientId: string) => ({ patient_id: patientId });
  const therapist = (therapistId: number) => ({ therapist_id: therapistId });

  const api = {
    healthz: () => client.GET("/healthz"),
    readyz: () => client.GET("/readyz"),

    login: (username: string, password: string) =>
      client.POST("/api/auth/token/", {
        body: { username, password },
        bodySerializer: formEncoded,
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
      }),
    refresh: (refreshToken: string) =>
      client.POST("/api/auth/refresh/", { body: { refresh_token: refreshToken } }),
    logout: () => client.POST("/api/auth/logout/"),
    request_password_reset: (username: string) =>
      client.POST("/api/auth/password-reset/", { body: { username } }),
    confirm_password_reset: (body: PasswordResetConfirm) =>
      client.POST("/api/auth/password-reset/confirm/", { body }),

    list_patients: (query: PatientListQuery = {}) =>
      client.GET("/api/patients/", { params: { query } }),
    create_patient: (body: PatientCreate, options: WriteOptions = {}) =>
      client.POST("/api/patients/", {
        params: {
          header: { "Idempotency-Key": options.idempotencyKey, "X-Change-Reason": options.reason },
        },
        body,
      }),
    get_patient: (patientId: string) =>
      client.GET("/api/patients/{patient_id}/", { params: { path: patient(patientId) } }),
    replace_patient: (patientId: string, body: PatientReplace, options: WriteOptions = {}) =>
      client.PUT("/api/patients/{patient_id}/", {
        params: { path: patient(patientId), header: changeHeaders(options) },
        body,
      }),
    update_patient: (patientId: string, body: PatientUpdate, options: WriteOptions = {}) =>
      client.PATCH("/api/patients/{patient_id}/", {
        params: { path: patient(patientId), header: changeHeaders(options) },
        body,
      }),
    delete_patient: (patientId: string, options: WriteOptions = {}) =>
      client.DELETE("/api/patients/{patient_id}/", {
        params: { path: patient(patientId), header: changeHeaders(options) },
      }),
    list_patient_history: (patientId: string, query: PageQuery = {}) =>
      client.GET("/api/patients/{patient_id}/history/", {
        params: { path: patient(patientId), query },
      }),
    get_patient_version: (patientId: string, version: number) =>
      client.GET("/api/patients/{patient_id}/history/{version}/", {
        params: { path: { patient_id: patientId, version } },
      }),
    restore_patient_version: (
      patientId: string,
      version: number,
      reason?: string,
      options: WriteOptions = {},
    ) =>
      client.POST("/api/patients/{patient_id}/history/{version}/restore/", {
        params: {
          path: { patient_id: patientId, version },
          header: { "If-Match": options.ifMatch },
        },
        body: { reason },
      }),
    list_deleted_patients: (query: PageQuery = {}) =>
      client.GET("/api/deleted-patients/", { params: { query } }),
    restore_deleted_patient: (patientId: string, reason?: string) =>
      client.POST("/api/deleted-patients/{patient_id}/restore/", {
        params: { path: patient(patientId) },
        body: { reason },
      }),

    add_tag: (patientId: string, tag: string, options: WriteOptions = {}) =>
      client.POST("/api/patients/{patient_id}/add_tag/", {
        params: { path: patient(patientId), header: writeHeaders(options) },
        body: { tag },
      }),
    remove_tag: (patientId: string, tag: string, options: WriteOptions = {}) =>
      client.POST("/api/patients/{patient_id}/remove_tag/", {
        params: { path: patient(patientId), header: writeHeaders(options) },
        body: { tag },
      }),
    add_session: (patientId: string, body: SessionCreate, options: WriteOptions = {}) =>
      client.POST("/api/patients/{patient_id}/add_session/", {
        params: { path: patient(patientId), header: writeHeaders(options) },
        body,
      }),
    update_wallet: (patientId: string, body: WalletUpdate, options: WriteOptions = {}) =>
      client.POST("/api/patients/{patient_id}/update_wallet/", {
        params: { path: patient(patientId), header: writeHeaders(options) },
        body,
      }),
    list_wallet_transactions: (patientId: string, query: PageQuery = {}) =>
      client.GET("/api/patients/{patient_id}/wallet_transactions/", {
        params: { path: patient(patientId), query },
      }),

    upload_profile_picture: (patientId: string, image: Blob, filename: string) =>
      client.PUT("/api/patients/{patient_id}/profile_picture/", {
        params: { path: patient(patientId) },
        // The document types the file part as a string; the serializer sends the image itself.
        body: { file: filename },
        bodySerializer: () => {
          const form = new FormData();
          form.append("file", image, filename);
          return form;
        },
      }),
    get_profile_picture: (patientId: string) =>
      client.GET("/api/patients/{patient_id}/profile_picture/", {
        params: { path: patient(patientId) },
        parseAs: "blob",
      }),
    delete_profile_picture: (patientId: string) =>
      client.DELETE("/api/patients/{patient_id}/profile_picture/", {
        params: { path: patient(patientId) },
      }),

    list_documents: (patientId: string, query: PageQuery = {}) =>
      client.GET("/api/patients/{patient_id}/documents/", {
        params: { path: patient(patientId), query },
      }),
    upload_document: (
      patientId: string,
      file: Blob,
      filename: string,
      fields: DocumentUpload,
      options: WriteOptions = {},
    ) =>
      client.POST("/api/patients/{patient_id}/documents/", {
        params: {
          path: patient(patientId),
          header: { "Idempotency-Key": options.idempotencyKey },
        },
        // The document types the file part as a string; the serializer sends the file itself.
        body: { file: filename, title: fields.title, category: fields.category },
        bodySerializer: () => {
          const form = new FormData();
          form.append("file", file, filename);
          form.append("title", fields.title);
          form.append("category", fields.category);
          if (fields.appointment !== undefined) form.append("appointment", String(fields.appointment));
          return form;
        },
      }),
    get_document: (patientId: string, documentId: number) =>
      client.GET("/api/patients/{patient_id}/documents/{document_id}/", {
        params: { path: { ...patient(patientId), document_id: documentId } },
      }),
    download_document: (patientId: string, documentId: number) =>
      client.GET("/api/patients/{patient_id}/documents/{document_id}/download/", {
        params: { path: { ...patient(patientId), document_id: documentId } },
        parseAs: "blob",
      }),
    update_document: (
      patientId: string,
      documentId: number,
      body: DocumentUpdate,
      options: WriteOptions = {},
    ) =>
      client.PATCH("/api/patients/{patient_id}/documents/{document_id}/", {
        params: {
          path: { ...patient(patientId), document_id: documentId },
          header: { "If-Match": options.ifMatch },
        },
        body,
      }),
    delete_document: (patientId: string, documentId: number) =>
      client.DELETE("/api/patients/{patient_id}/documents/{document_id}/", {
        params: { path: { ...patient(patientId), document_id: documentId } },
      }),

    list_appointments: (query: AppointmentListQuery = {}) =>
      client.GET("/api/appointments/", { params: { query } }),
    create_appointment: (body: AppointmentCreate, options: WriteOptions = {}) =>
      client.POST("/api/appointments/", {
        params: { header: { "Idempotency-Key": options.idempotencyKey } },
        body,
      }),
    get_appointment: (appointmentId: number) =>
      client.GET("/api/appointments/{appointment_id}/", {
        params: { path: { appointment_id: appointmentId } },
      }),
    update_appointment: (appointmentId: number, body: AppointmentUpdate, options: WriteOptions = {}) =>
      client.PATCH("/api/appointments/{appointment_id}/", {
        params: { path: { appointment_id: appointmentId }, header: { "If-Match": options.ifMatch } },
        body,
      }),
    cancel_appointment: (appointmentId: number, body: AppointmentCancel = {}, options: WriteOptions = {}) =>
      client.POST("/api/appointments/{appointment_id}/cancel/", {
        params: { path: { appointment_id: appointmentId }, header: writeHeaders(options) },
        body,
      }),
    create_appointment_series: (body: SeriesCreate, options: WriteOptions = {}) =>
      client.POST("/api/appointments/series/", {
        params: { header: { "Idempotency-Key": options.idempotencyKey } },
        body,
      }),
    get_appointment_series: (seriesId: number) =>
      client.GET("/api/appointments/series/{series_id}/", {
        params: { path: { series_id: seriesId } },
      }),
    cancel_appointment_series: (seriesId: number, body: SeriesCancel = {}, options: WriteOptions = {}) =>
      client.POST("/api/appointments/series/{series_id}/cancel/", {
        params: { path: { series_id: seriesId }, header: { "Idempotency-Key": options.idempotencyKey } },
        body,
      }),
    list_progress_notes: (appointmentId: number, query: PageQuery = {}) =>
      client.GET("/api/appointments/{appointment_id}/notes/", {
        params: { path: { appointment_id: appointmentId }, query },
      }),
    create_progress_note: (appointmentId: number, body: NoteCreate, options: WriteOptions = {}) =>
      client.POST("/api/appointments/{appointment_id}/notes/", {
        params: {
          path: { appointment_id: appointmentId },
          header: { "Idempotency-Key": options.idempotencyKey },
        },
        body,
      }),
    get_progress_note: (appointmentId: number, noteId: number) =>
      client.GET("/api/appointments/{appointment_id}/notes/{note_id}/", {
        params: { path: note(appointmentId, noteId) },
      }),
    update_progress_note: (
      appointmentId: number,
      noteId: number,
      body: NoteUpdate,
      options: WriteOptions = {},
    ) =>
      client.PATCH("/api/appointments/{appointment_id}/notes/{note_id}/", {
        params: { path: note(appointmentId, noteId), header: { "If-Match": options.ifMatch } },
        body,
      }),
    sign_progress_note: (appointmentId: number, noteId: number, options: WriteOptions = {}) =>
      client.POST("/api/appointments/{appointment_id}/notes/{note_id}/sign/", {
        params: { path: note(appointmentId, noteId), header: writeHeaders(options) },
      }),
    add_progress_note_addendum: (
      appointmentId: number,
      noteId: number,
      body: AddendumCreate,
      options: WriteOptions = {},
    ) =>
      client.POST("/api/appointments/{appointment_id}/notes/{note_id}/addenda/", {
        params: {
          path: note(appointmentId, noteId),
          header: { "Idempotency-Key": options.idempotencyKey },
        },
        body,
      }),
    cosign_progress_note: (appointmentId: number, noteId: number, options: WriteOptions = {}) =>
      client.POST("/api/appointments/{appointment_id}/notes/{note_id}/cosign/", {
        params: { path: note(appointmentId, noteId), header: writeHeaders(options) },
      }),
    withhold_progress_note: (
      appointmentId: number,
      noteId: number,
      body: Withholding,
      options: WriteOptions = {},
    ) =>
      client.POST("/api/appointments/{appointment_id}/notes/{note_id}/withhold/", {
        params: { path: note(appointmentId, noteId), header: writeHeaders(options) },
        body,
      }),
    list_psychotherapy_notes: (query: PsychotherapyListQuery = {}) =>
      client.GET("/api/psychotherapy-notes/", { params: { query } }),
    create_psychotherapy_note: (body: PsychotherapyNoteCreate, options: WriteOptions = {}) =>
      client.POST("/api/psychotherapy-notes/", {
        params: { header: { "Idempotency-Key": options.idempotencyKey } },
        body,
      }),
    get_psychotherapy_note: (noteId: number) =>
      client.GET("/api/psychotherapy-notes/{note_id}/", {
        params: { path: { note_id: noteId } },
      }),
    authorize_psychotherapy_note_disclosure: (
      noteId: number,
      body: AuthorizationCreate,
      options: WriteOptions = {},
    ) =>
      client.POST("/api/psychotherapy-notes/{note_id}/authorizations/", {
        params: {
          path: { note_id: noteId },
          header: { "Idempotency-Key": options.idempotencyKey },
        },
        body,
      }),
    list_psychotherapy_note_authorizations: (noteId: number, query: PageQuery = {}) =>
      client.GET("/api/psychotherapy-notes/{note_id}/authorizations/", {
        params: { path: { note_id: noteId }, query },
      }),
    revoke_psychotherapy_note_authorization: (
      noteId: number,
      authorizationId: number,
      options: WriteOptions = {},
    ) =>
      client.POST("/api/psychotherapy-notes/{note_id}/authorizations/{authorization_id}/revoke/", {
        params: {
          path: { note_id: noteId, authorization_id: authorizationId },
          header: { "Idempotency-Key": options.idempotencyKey },
        },
      }),
    disclose_psychotherapy_note: (noteId: number, authorizationId: number) =>
      client.GET("/api/psychotherapy-notes/{note_id}/disclosure/", {
        params: { path: { note_id: noteId }, query: { authorization: authorizationId } },
      }),
    list_therapists: (query: TherapistListQuery = {}) =>
      client.GET("/api/therapists/", { params: { query } }),
    get_therapist: (therapistId: number) =>
      client.GET("/api/therapists/{therapist_id}/", { params: { path: therapist(therapistId) } }),
    update_therapist: (therapistId: number, body: TherapistUpdate) =>
      client.PATCH("/api/therapists/{therapist_id}/", {
        params: { path: therapist(therapistId) },
        body,
      }),
    get_therapist_hours: (therapistId: number) =>
      client.GET("/api/therapists/{therapist_id}/hours/", {
        params: { path: therapist(therapistId) },
      }),
    replace_therapist_hours: (therapistId: number, body: HoursUpdate) =>
      client.PUT("/api/therapists/{therapist_id}/hours/", {
        params: { path: therapist(therapistId) },
        body,
      }),
    list_therapist_time_off: (therapistId: number, query: PageQuery = {}) =>
      client.GET("/api/therapists/{therapist_id}/time_off/", {
        params: { path: therapist(therapistId), query },
      }),
    create_therapist_time_off: (
      therapistId: number,
      body: TimeOffCreate,
      options: Pick<WriteOptions, "idempotencyKey"> = {},
    ) =>
      client.POST("/api/therapists/{therapist_id}/time_off/", {
        params: {
          path: therapist(therapistId),
          header: { "Idempotency-Key": options.idempotencyKey },
        },
        body,
      }),
    delete_therapist_time_off: (therapistId: number, timeOffId: number) =>
      client.DELETE("/api/therapists/{therapist_id}/time_off/{time_off_id}/", {
        params: { path: { ...therapist(therapistId), time_off_id: timeOffId } },
      }),
    get_therapist_availability: (therapistId: number, query: AvailabilityQuery = {}) =>
      client.GET("/api/therapists/{therapist_id}/availability/", {
        params: { path: therapist(therapistId), query },
      }),

    list_audit_events: (query: AuditQuery = {}) => client.GET("/api/audit/", { params: { query } }),

    list_billable_services: (query: BillableServiceQuery = {}) =>
      client.GET("/api/billable-services/", { params: { query } }),
    create_billable_service: (
      body: BillableServiceCreate,
      options: Pick<WriteOptions, "idempotencyKey"> = {},
    ) =>
      client.POST("/api/billable-services/", {
        params: { header: { "Idempotency-Key": options.idempotencyKey } },
        body,
      }),
    get_billable_service: (serviceId: number) =>
      client.GET("/api/billable-services/{service_id}/", {
        params: { path: { service_id: serviceId } },
      }),
    update_billable_service: (serviceId: number, body: BillableServiceUpdate) =>
      client.PATCH("/api/billable-services/{service_id}/", {
        params: { path: { service_id: serviceId } },
        body,
      }),
    delete_billable_service: (serviceId: number) =>
      client.DELETE("/api/billable-services/{service_id}/", {
        params: { path: { service_id: serviceId } },
      }),
    get_sliding_scale: (patientId: string) =>
      client.GET("/api/patients/{patient_id}/sliding-scale/", {
        params: { path: patient(patientId) },
      }),
    set_sliding_scale: (patientId: string, body: SlidingScaleSet) =>
      client.PUT("/api/patients/{patient_id}/sliding-scale/", {
        params: { path: patient(patientId) },
        body,
      }),
    delete_sliding_scale: (patientId: string) =>
      client.DELETE("/api/patients/{patient_id}/sliding-scale/", {
        params: { path: patient(patientId) },
      }),

    get_diagnoses: (patientId: string) =>
      client.GET("/api/patients/{patient_id}/diagnoses/", {
        params: { path: patient(patientId) },
      }),
    set_diagnoses: (patientId: string, body: DiagnosesUpdate) =>
      client.PUT("/api/patients/{patient_id}/diagnoses/", {
        params: { path: patient(patientId) },
        body,
      }),
    // As JSON; the same path with `?format=pdf` (or `Accept: application/pdf`) is the PDF.
    get_statement: (patientId: string, query: Omit<StatementQuery, "format"> = {}) =>
      client.GET("/api/patients/{patient_id}/statement/", {
        params: { path: patient(patientId), query },
      }),
    get_superbill: (patientId: string, query: Omit<StatementQuery, "format"> = {}) =>
      client.GET("/api/patients/{patient_id}/superbill/", {
        params: { path: patient(patientId), query },
      }),

    list_invoices: (query: InvoiceQuery = {}) => client.GET("/api/invoices/", { params: { query } }),
    create_invoice: (body: InvoiceCreate, options: Pick<WriteOptions, "idempotencyKey"> = {}) =>
      client.POST("/api/invoices/", {
        params: { header: { "Idempotency-Key": options.idempotencyKey } },
        body,
      }),
    get_invoice: (invoiceId: number) =>
      client.GET("/api/invoices/{invoice_id}/", { params: { path: { invoice_id: invoiceId } } }),
    update_invoice: (invoiceId: number, body: InvoiceUpdate, options: WriteOptions = {}) =>
      client.PATCH("/api/invoices/{invoice_id}/", {
        params: { path: { invoice_id: invoiceId }, header: { "If-Match": options.ifMatch } },
        body,
      }),
    delete_invoice: (invoiceId: number, options: WriteOptions = {}) =>
      client.DELETE("/api/invoices/{invoice_id}/", {
        params: { path: { invoice_id: invoiceId }, header: { "If-Match": options.ifMatch } },
      }),
    issue_invoice: (invoiceId: number, options: WriteOptions = {}) =>
      client.POST("/api/invoices/{invoice_id}/issue/", {
        params: {
          path: { invoice_id: invoiceId },
          header: { "If-Match": options.ifMatch, "Idempotency-Key": options.idempotencyKey },
        },
      }),
    void_invoice: (invoiceId: number, body: InvoiceReason = {}, options: WriteOptions = {}) =>
      client.POST("/api/invoices/{invoice_id}/void/", {
        params: { path: { invoice_id: invoiceId }, header: { "If-Match": options.ifMatch } },
        body,
      }),
    write_off_invoice: (invoiceId: number, body: InvoiceReason = {}, options: WriteOptions = {}) =>
      client.POST("/api/invoices/{invoice_id}/write_off/", {
        params: { path: { invoice_id: invoiceId }, header: { "If-Match": options.ifMatch } },
        body,
      }),

    list_payments: (query: PaymentQuery = {}) => client.GET("/api/payments/", { params: { query } }),
    create_payment: (body: PaymentCreate, options: Pick<WriteOptions, "idempotencyKey"> = {}) =>
      client.POST("/api/payments/", {
        params: { header: { "Idempotency-Key": options.idempotencyKey } },
        body,
      }),
    get_payment: (paymentId: number) =>
      client.GET("/api/payments/{payment_id}/", { params: { path: { payment_id: paymentId } } }),
    refresh_payment: (paymentId: number) =>
      client.POST("/api/payments/{payment_id}/refresh/", {
        params: { path: { payment_id: paymentId } },
      }),
    refund_payment: (
      paymentId: number,
      body: RefundCreate = {},
      options: Pick<WriteOptions, "idempotencyKey"> = {},
    ) =>
      client.POST("/api/payments/{payment_id}/refund/", {
        params: {
          path: { payment_id: paymentId },
          header: { "Idempotency-Key": options.idempotencyKey },
        },
        body,
      }),
    top_up_wallet: (
      patientId: string,
      body: TopUpCreate,
      options: Pick<WriteOptions, "idempotencyKey"> = {},
    ) =>
      client.POST("/api/patients/{patient_id}/wallet/top_up/", {
        params: {
          path: patient(patientId),
          header: { "Idempotency-Key": options.idempotencyKey },
        },
        body,
      }),

    // Cards on file: the card number goes to Stripe.js (confirmCardSetup with client_secret),
    // never to this API.
    list_payment_methods: (patientId: string, query: PageQuery = {}) =>
      client.GET("/api/patients/{patient_id}/payment-methods/", {
        params: { path: patient(patientId), query },
      }),
    get_card_consent: (patientId: string) =>
      client.GET("/api/patients/{patient_id}/payment-methods/consent/", {
        params: { path: patient(patientId) },
      }),
    create_card_setup: (patientId: string) =>
      client.POST("/api/patients/{patient_id}/payment-methods/setup/", {
        params: { path: patient(patientId) },
        body: { consent: true },
      }),
    complete_card_setup: (patientId: string, setupIntent: string) =>
      client.POST("/api/patients/{patient_id}/payment-methods/setup/{setup_intent_id}/complete/", {
        params: { path: { ...patient(patientId), setup_intent_id: setupIntent } },
      }),
    delete_payment_method: (patientId: string, methodId: number) =>
      client.DELETE("/api/patients/{patient_id}/payment-methods/{method_id}/", {
        params: { path: { ...patient(patientId), method_id: methodId } },
      }),
    set_default_payment_method: (patientId: string, methodId: number) =>
      client.POST("/api/patients/{patient_id}/payment-methods/{method_id}/default/", {
        params: { path: { ...patient(patientId), method_id: methodId } },
      }),
    get_autopay: (patientId: string) =>
      client.GET("/api/patients/{patient_id}/autopay/", {
        params: { path: patient(patientId) },
      }),
    set_autopay: (patientId: string, enabled: boolean) =>
      client.PUT("/api/patients/{patient_id}/autopay/", {
        params: { path: patient(patientId) },
        body: { enabled },
      }),

    create_calendar_feed: (therapistId: number) =>
      client.POST("/api/therapists/{therapist_id}/calendar/", {
        params: { path: { therapist_id: therapistId } },
      }),
    delete_calendar_feed: (therapistId: number) =>
      client.DELETE("/api/therapists/{therapist_id}/calendar/", {
        params: { path: { therapist_id: therapistId } },
      }),
    // The .ics itself, as text (no token needed: the secret in the URL is the key).
    get_calendar_feed: (secret: string) =>
      client.GET("/api/calendars/{secret}.ics", {
        params: { path: { secret } },
        parseAs: "text",
      }),
    // Measurement-based care: instruments, assignments, requests and responses, alerts.
    list_instruments: (query: InstrumentList = {}) =>
      client.GET("/api/instruments/", { params: { query } }),
    create_measure_assignment: (
      patientId: string,
      body: AssignmentCreate,
      options: Pick<WriteOptions, "idempotencyKey"> = {},
    ) =>
      client.POST("/api/patients/{patient_id}/measure-assignments/", {
        params: {
          path: patient(patientId),
          header: { "Idempotency-Key": options.idempotencyKey },
        },
        body,
      }),
    list_measure_assignments: (patientId: string, query: PageQuery = {}) =>
      client.GET("/api/patients/{patient_id}/measure-assignments/", {
        params: { path: patient(patientId), query },
      }),
    end_measure_assignment: (patientId: string, assignmentId: number) =>
      client.DELETE("/api/patients/{patient_id}/measure-assignments/{assignment_id}/", {
        params: { path: { ...patient(patientId), assignment_id: assignmentId } },
      }),
    list_measure_requests: (patientId: string, query: PageQuery = {}) =>
      client.GET("/api/patients/{patient_id}/measure-requests/", {
        params: { path: patient(patientId), query },
      }),
    answer_measure_request: (requestId: number, answers: MeasureAnswers) =>
      client.POST("/api/measure-requests/{request_id}/response/", {
        params: { path: { request_id: requestId } },
        body: { answers },
      }),
    administer_measure: (
      patientId: string,
      body: InSessionCreate,
      options: Pick<WriteOptions, "idempotencyKey"> = {},
    ) =>
      client.POST("/api/patients/{patient_id}/measures/", {
        params: {
          path: patient(patientId),
          header: { "Idempotency-Key": options.idempotencyKey },
        },
        body,
      }),
    get_measure_trend: (patientId: string, instrument: string) =>
      client.GET("/api/patients/{patient_id}/measures/", {
        params: { path: patient(patientId), query: { instrument } },
      }),
    get_measure: (patientId: string, measureId: number) =>
      client.GET("/api/patients/{patient_id}/measures/{measure_id}/", {
        params: { path: { ...patient(patientId), measure_id: measureId } },
      }),
    get_measure_fhir: (patientId: string, measureId: number) =>
      client.GET("/api/patients/{patient_id}/measures/{measure_id}/fhir/", {
        params: { path: { ...patient(patientId), measure_id: measureId } },
      }),
    list_alerts: (query: AlertQuery = {}) => client.GET("/api/alerts/", { params: { query } }),
    acknowledge_alert: (alertId: number, note: string) =>
      client.POST("/api/alerts/{alert_id}/acknowledge/", {
        params: { path: { alert_id: alertId } },
        body: { note },
      }),

    // One method per operationId, no more and no fewer: a new operation fails the build here.
    // Stripe's webhook is Stripe's alone to call.
  } satisfies {
    [OperationId in keyof Omit<operations, "stripe_webhook">]: (
      ...args: never[]
    ) => Promise<unknown>;
  };

  return api;
}

export type PatientApi = ReturnType<typeof createPatientApi>;

function asJson<T extends object>(data: T | string | undefined): T | undefined {
  return typeof data === "object" ? data : undefined;
}

function note(appointmentId: number, noteId: number) {
  return { appointment_id: appointmentId, note_id: noteId };
}

function changeHeaders(options: WriteOptions) {
  return { "If-Match": options.ifMatch, "X-Change-Reason": options.reason };
}

function writeHeaders(options: WriteOptions) {
  return {
    "If-Match": options.ifMatch,
    "Idempotency-Key": options.idempotencyKey,
    "X-Change-Reason": options.reason,
  };
}

/**
 * Every operation once, as a front end would chain them: log in, refresh, create a patient,
 * change it with its ETag, move money, upload a picture, clean up, ask for a password reset,
 * log out. Its types check the responses too.
 */
export async function tour(baseUrl: string, username: string, password: string): Promise<void> {
  let accessToken: string | undefined;
  const api = createPatientApi(baseUrl, () => accessToken);

  const health = await api.healthz();
  const ready = await api.readyz();
  if (health.data === undefined || ready.data?.status !== "ok") throw new Error("not ready");

  const login = await api.login(username, password);
  if (login.error) throw new Error(JSON.stringify(login.error));
  const first: Token = login.data;
  // A refresh token works once: the next one comes with the new access token.
  const refreshed = await api.refresh(first.refresh_token);
  if (refreshed.error) throw new Error(JSON.stringify(refreshed.error));
  const token: Token = refreshed.data;
  accessToken = token.access_token;

  const created = await api.create_patient(
    {
      password: "correct-horse",
      first_name: "Jane",
      last_name: "Doe",
      phone_no: "+14155550123",
      allergies_and_medication: "",
      date_of_birth: "1990-05-17",
      sex: "F",
      tags: ["anxiety"],
    },
    { idempotencyKey: crypto.randomUUID() },
  );
  if (created.error) throw new Error(JSON.stringify(created.error));
  const id = created.data.id;
  const etag = created.response.headers.get("ETag") ?? "*";

  const page = await api.list_patients({ name: "jane", tag: ["anxiety"], ordering: "-created_at" });
  const found: Patient[] = page.data?.results ?? [];

  const read = await api.get_patient(id);
  const replaced = await api.replace_patient(
    id,
    {
      first_name: "Jane",
      last_name: "Doe",
      phone_no: "+14155550123",
      allergies_and_medication: "Penicillin",
      date_of_birth: "1990-05-17",
      sex: "F",
    },
    { ifMatch: etag },
  );
  const patched = await api.update_patient(
    id,
    { address: "12 Main St", email: null },
    { reason: "Moved house" },
  );
  const history = await api.list_patient_history(id, { page: "1" });
  const latest = history.data?.results[0];
  if (latest !== undefined) {
    const version = await api.get_patient_version(id, latest.version);
    const changedAddress = version.data?.changes["address"]?.after;
    if (changedAddress !== undefined) {
      await api.restore_patient_version(id, latest.version, "Undo the move");
    }
  }
  if (replaced.response.status === 412 || patched.error) throw new Error("changed meanwhile");

  await api.add_tag(id, "insomnia");
  await api.remove_tag(id, "insomnia");
  const session = await api.add_session(id, {
    date: "2024-05-01T14:30:00Z",
    duration_minutes: 50,
    therapist: "Dr. Rivera",
    notes: "Intake.",
  });
  const wallet = await api.update_wallet(id, { amount: "25.50", reason: "Top-up" });
  const balance: string | undefined = wallet.data?.wallet_balance;
  const ledger = await api.list_wallet_transactions(id, { page: "1", page_size: "20" });
  const lastChange: string | undefined = ledger.data?.results[0]?.amount;

  const picture = new Blob([new Uint8Array([0xff, 0xd8, 0xff])], { type: "image/jpeg" });
  const uploaded = await api.upload_profile_picture(id, picture, "photo.jpg");
  const pictureUrl: string | null | undefined = uploaded.data?.profile_picture;
  const downloaded = await api.get_profile_picture(id);
  const bytes: Blob | undefined = downloaded.data;
  await api.delete_profile_picture(id);

  const scan = new Blob([new Uint8Array([0x25, 0x50, 0x44, 0x46])], { type: "application/pdf" });
  const filed = await api.upload_document(id, scan, "consent.pdf", {
    title: "Signed consent",
    category: "consent",
  });
  const documentId: number | undefined = filed.data?.id;
  const documents = await api.list_documents(id, { page: "1" });
  const firstTitle: string | undefined = documents.data?.results[0]?.title;
  if (documentId !== undefined) {
    const metadata = await api.get_document(id, documentId);
    const sha: string | undefined = metadata.data?.sha256;
    const file: Blob | undefined = (await api.download_document(id, documentId)).data;
    await api.update_document(
      id,
      documentId,
      { withheld: true, withheld_reason: "Third-party information" },
      { ifMatch: metadata.response.headers.get("ETag") ?? undefined },
    );
    await api.delete_document(id, documentId);
    void [sha, file];
  }
  void firstTitle;

  // The first therapist's week, a day off, and their free half-hours of the next seven days.
  const therapists = await api.list_therapists({ is_active: true, ordering: "display_name" });
  const someone = therapists.data?.results[0];
  let freeSlots = 0;
  if (someone !== undefined) {
    const named = await api.get_therapist(someone.id);
    await api.update_therapist(someone.id, { display_name: named.data?.display_name ?? "Dr. Rivera" });
    const week = await api.get_therapist_hours(someone.id);
    await api.replace_therapist_hours(someone.id, { hours: week.data?.hours ?? [] });
    const dayOff = await api.create_therapist_time_off(someone.id, {
      start: "2030-01-02T00:00:00+01:00",
      end: "2030-01-03T00:00:00+01:00",
      reason: "Training",
    });
    const offs = await api.list_therapist_time_off(someone.id, { page: "1" });
    if (dayOff.data !== undefined && offs.data?.count) {
      await api.delete_therapist_time_off(someone.id, dayOff.data.id);
    }
    const free = await api.get_therapist_availability(someone.id, { duration: 30, step: 15 });
    freeSlots = free.data?.slots.length ?? 0;
  }

  // A service the practice bills, its price changed, found by its code, then deleted (kept).
  const billed = await api.create_billable_service(
    { code: "90834", name: "Psychotherapy, 45 minutes", duration_minutes: 45, price: "120.00" },
    { idempotencyKey: crypto.randomUUID() },
  );
  let price: string | undefined;
  if (billed.data !== undefined) {
    const service: BillableService = billed.data;
    await api.update_billable_service(service.id, { price: "125.00" });
    price = (await api.get_billable_service(service.id)).data?.price;
    const byCode = await api.list_billable_services({ code: service.code, page: "1" });
    const currency: string | undefined = byCode.data?.results[0]?.currency;
    price = `${price} ${currency}`;
    await api.delete_billable_service(service.id);
  }

  // The patient pays 60% of a service's price; the reason is kept with the scale.
  const scaled = await api.set_sliding_scale(id, { percent: 60, reason: "Income-based." });
  const scale: SlidingScale | undefined = (await api.get_sliding_scale(id)).data;
  if (scaled.data !== undefined) await api.delete_sliding_scale(id);

  // The diagnosis codes a superbill lists (normalised: f411 is F41.1), then the month's
  // statement and superbill.
  await api.set_diagnoses(id, { codes: ["f411", "F33.0"] });
  const codes: Diagnoses | undefined = (await api.get_diagnoses(id)).data;

  // A manual invoice, issued (numbered), paid in cash; its payment read back.
  const drafted = await api.create_invoice({
    patient: id,
    lines: [{ description: "Copy of records", unit_price: "15.00" }],
  });
  let invoiceNumber: string | null | undefined;
  if (drafted.data !== undefined) {
    const invoice: Invoice = (await api.issue_invoice(drafted.data.id)).data ?? drafted.data;
    invoiceNumber = invoice.number;
    const paid = await api.create_payment({ invoices: [invoice.id], method: "cash" });
    const payment: Payment | undefined = paid.data;
    if (payment !== undefined) await api.get_payment(payment.id);
    await api.list_invoices({ patient: id, status: "paid" });
  }
  // A card saved: the patient reads the consent, agrees, and Stripe.js confirms the setup
  // (400 while PAYMENTS_PROVIDER=none); the card then listed, made the default, autopay on.
  const consent: string | undefined = (await api.get_card_consent(id)).data?.text;
  const begun = await api.create_card_setup(id);
  const setup: CardSetup | undefined = begun.data;
  let cards: Card[] = [];
  if (setup !== undefined) {
    // await stripe.confirmCardSetup(setup.client_secret, { payment_method: { card } });
    const saved = await api.complete_card_setup(id, setup.setup_intent);
    if (saved.data !== undefined) {
      await api.set_default_payment_method(id, saved.data.id);
      await api.set_autopay(id, true);
    }
    cards = (await api.list_payment_methods(id, { page: "1" })).data?.results ?? [];
    for (const card of cards) await api.delete_payment_method(id, card.id);
  }
  const autopay: Autopay | undefined = (await api.get_autopay(id)).data;
  // As JSON (the PDF is a string of the same answer's other media type).
  const statement = asJson<Statement>((await api.get_statement(id)).data);
  const owed = statement ? `${statement.closing_balance} ${statement.currency}` : undefined;
  const superbill = asJson<Superbill>(
    (await api.get_superbill(id, { start: "2026-01-01", end: "2026-12-31" })).data,
  );
  const superbillCodes = superbill?.diagnosis_codes.join(", ") ?? codes?.codes.join(", ");

  // A PHQ-9 administered in session, then the patient's trend and the open alerts.
  const administered = await api.administer_measure(id, {
    instrument: "phq9",
    answers: { "1": 1, "2": 1, "3": 0, "4": 1, "5": 0, "6": 0, "7": 0, "8": 0, "9": 0 },
  });
  const measure: Measure | undefined = administered.data;
  const trend: Trend | undefined = (await api.get_measure_trend(id, "phq9")).data;
  const alerts: Alert[] = (await api.list_alerts({ status: "open" })).data?.results ?? [];

  const audit = await api.list_audit_events({ patient: id, action: "get_patient" });
  const events = audit.data?.results.map((event) => `${event.at} ${event.actor} ${event.outcome}`);

  const deleted = await api.delete_patient(id, { ifMatch: "*", reason: "Duplicate record" });
  if (deleted.response.status !== 204) throw new Error(`not deleted: ${deleted.response.status}`);
  const binned = await api.list_deleted_patients();
  const purgeAfter: string | undefined = binned.data?.results[0]?.purge_after;
  const back = await api.restore_deleted_patient(id, `Not a duplicate (purged after ${purgeAfter})`);
  if (back.error) throw new Error(JSON.stringify(back.error));
  await api.delete_patient(id);

  // Always 202, whether the name is an account or not; the mail holds the token to confirm with.
  const reset = await api.request_password_reset(username);
  const resetSent: string | undefined = reset.data?.detail;
  const confirmed = await api.confirm_password_reset({ token: "from-the-mail", new_password: password });
  const tokenRefused = confirmed.response.status === 400 ? JSON.stringify(confirmed.error) : "";
  const loggedOut = await api.logout();
  if (loggedOut.response.status !== 204) throw new Error(`still in: ${loggedOut.response.status}`);

  console.log({
    found: found.length,
    sessions: session.data?.sessions.length,
    read: read.data?.updated_at,
    balance,
    lastChange,
    pictureUrl,
    pictureBytes: bytes?.size,
    events,
    freeSlots,
    price,
    percent: scale?.percent,
    invoiceNumber,
    measured: measure ? `${measure.total} ${measure.band}` : undefined,
    change: trend?.change,
    openAlerts: alerts.length,
    consent,
    cards: cards.map((card) => `${card.brand} ${card.last4}`),
    autopay: autopay?.enabled,
    owed,
    superbillCodes,
    resetSent,
    tokenRefused,
  });
}
