// Levels of assurance (DESIGN §4) and what each sign-in method reaches.
export const ACR_VALUES = ['cyberid:loa1', 'cyberid:loa2', 'cyberid:loa3'] as const;
export type Acr = (typeof ACR_VALUES)[number];

/** Password alone is one factor. */
export const PASSWORD_ACR: Acr = 'cyberid:loa1';

/** A passkey with user verification: something you have plus something you know or are. */
export const PASSKEY_ACR: Acr = 'cyberid:loa2';
