"""What API.md promises clients, written once for every test that checks it."""

REQUIRED = "This field is required."
NULL = "This field may not be null."
BLANK = "This field may not be blank."
NUL_CHARS = "Null characters are not allowed."
BAD_EMAIL = "Enter a valid email address."
BAD_PHONE = "Phone number must be 9-15 digits, optionally starting with +."
BAD_DATE_FORMAT = "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."

RESOURCE_FIELDS = frozenset(
    {
        "id",
        "first_name",
        "last_name",
        "phone_no",
        "allergies_and_medication",
        "date_of_birth",
        "sex",
        "ssn",
        "email",
        "address",
        "added_note",
        "about_note",
        "profile_picture",
        "tags",
        "wallet_balance",
        "sessions",
        "created_at",
        "updated_at",
    }
)
