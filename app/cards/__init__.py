"""Cards on file, through the payment processor (app.processor): a SetupIntent made for the
patient with their consent to off-session charges recorded (who, when, and the exact text they
were shown), the card Stripe.js saved recorded from it (only the processor's id, the brand, the
last 4 digits and the expiry: a card number never reaches the service), listed, removed, one set
as the default; and the patient's choice of autopay. The webhook applies a setup that succeeded
and a card detached through the same service (`CardService.record_setup`, `card_detached`)."""
