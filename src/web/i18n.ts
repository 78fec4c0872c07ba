/** Page text in English and French; keys are referenced by data-i18n attributes and by code. */
const en = {
  title: 'Handwriting recognition',
  drawHeading: 'Draw one character',
  model: 'Model',
  padLabel: 'Drawing pad',
  padHelp: 'Draw with a finger, a pen or the mouse, then press Predict.',
  predict: 'Predict',
  clear: 'Clear',
  resultHeading: 'The model reads',
  seen: 'What the model saw (28×28)',
  topLabel: 'Most likely characters',
  feedbackQuestion: 'Was that right?',
  right: 'Right ✓',
  wrongPrompt: 'No, it was …',
  savedRight: 'Saved: “{label}”, the model was right.',
  savedWrong: 'Saved: “{label}” (the model read “{predicted}”). The next retraining learns from it.',
  undo: 'Undo',
  undone: 'Undone: your answer was removed.',
  countsNone: 'No corrections yet for this model.',
  countsOne: '1 correction so far; the model was right {acc} % of the time.',
  counts: '{n} corrections so far; the model was right {acc} % of the time.',
  modelInfo: '{name} {version}: test accuracy {acc} %, trained {date}.',
  docsLink: 'API docs',
  reportLink: 'Model report',
  footer:
    'Your answers are stored with the drawing, or the 28×28 crop of the character, to improve the model. Photos themselves are not kept.',
  langToggle: 'Français',
  thinking: 'Reading…',
  drawFirst: 'Draw a character first.',
  nothingDrawn: 'Nothing drawn: draw a larger character.',
  factsLabel: 'About the model',
  sending: 'Saving…',
  error: 'Error: {message}',
  offline: 'The server cannot be reached. Try again.',
  noModels: 'No model is available on the server.',
  confidence: '{label}: {p} %',
  accuracy: '{name} (test accuracy {acc} %)',
  parts: 'Image net: {image} ({imageP} %) · stroke net: {strokes} ({strokesP} %)',
  modesLabel: 'Input',
  modeDraw: 'Draw',
  modePhoto: 'Photo',
  photoHeading: 'Photograph a character or a number',
  photoPick: 'Take or choose a photo',
  photoHelp:
    'One character or one line (a number, a word), dark ink on light paper. The photo is shrunk on this device before it is sent.',
  photoView: 'The photo, each character read framed and numbered',
  photoChars: 'Characters read: choose one to answer for it',
  photoChar: 'Character {n}: {label} ({p} %)',
  photoQuestion: 'Character {n}, read “{label}”: was that right?',
  photoSent: 'Read from {w}×{h} px ({kb} KB sent; the photo is {ow}×{oh}).',
  photoUnreadable: 'This file cannot be opened as an image here: use a JPEG or PNG photo.',
  photoNothing: 'No writing found in this photo: frame the characters closer, dark on light.',
  photoAllDone: 'Every character has an answer. Thank you! Take another photo when you like.',
  privateSwitch: 'Private: nothing leaves this device',
  whereDevice: 'Computed on this device: nothing was sent.',
  whereOffline: 'The server cannot be reached: computed on this device.',
  privateNote: 'Private mode: corrections are not sent. Turn Private off to help improve the model.',
  savedQueued: 'Saved on this device: “{label}”. It is sent when the server is back.',
  alreadySent: 'It was sent already: it stays stored.',
  queueSentOne: '1 correction made offline was sent to the server.',
  queueSent: '{n} corrections made offline were sent to the server.',
  queueDropped: 'The server refused a correction made offline: {message}',
} as const;

export type MessageKey = keyof typeof en;
type Messages = Record<MessageKey, string>;

const fr: Messages = {
  title: 'Reconnaissance d’écriture',
  drawHeading: 'Dessinez un caractère',
  model: 'Modèle',
  padLabel: 'Zone de dessin',
  padHelp: 'Dessinez au doigt, au stylet ou à la souris, puis appuyez sur Reconnaître.',
  predict: 'Reconnaître',
  clear: 'Effacer',
  resultHeading: 'Le modèle lit',
  seen: 'Ce que le modèle a vu (28×28)',
  topLabel: 'Caractères les plus probables',
  feedbackQuestion: 'Est-ce juste ?',
  right: 'Juste ✓',
  wrongPrompt: 'Non, c’était …',
  savedRight: 'Enregistré : « {label} », le modèle avait raison.',
  savedWrong:
    'Enregistré : « {label} » (le modèle a lu « {predicted} »). Le prochain réentraînement en tiendra compte.',
  undo: 'Annuler',
  undone: 'Annulé : votre réponse a été retirée.',
  countsNone: 'Aucune correction pour ce modèle pour l’instant.',
  countsOne: '1 correction jusqu’ici ; le modèle avait raison {acc} % du temps.',
  counts: '{n} corrections jusqu’ici ; le modèle avait raison {acc} % du temps.',
  modelInfo: '{name} {version} : exactitude en test {acc} %, entraîné le {date}.',
  docsLink: 'Documentation de l’API',
  reportLink: 'Rapport du modèle',
  footer:
    'Vos réponses sont enregistrées avec le dessin, ou l’image 28×28 du caractère, pour améliorer le modèle. Les photos elles-mêmes ne sont pas gardées.',
  langToggle: 'English',
  thinking: 'Lecture…',
  drawFirst: 'Dessinez d’abord un caractère.',
  nothingDrawn: 'Rien de dessiné : dessinez un caractère plus grand.',
  factsLabel: 'À propos du modèle',
  sending: 'Enregistrement…',
  error: 'Erreur : {message}',
  offline: 'Le serveur est injoignable. Réessayez.',
  noModels: 'Aucun modèle n’est disponible sur le serveur.',
  confidence: '{label} : {p} %',
  parts: 'Réseau image : {image} ({imageP} %) · réseau tracé : {strokes} ({strokesP} %)',
  privateSwitch: 'Privé : rien ne quitte cet appareil',
  whereDevice: 'Calculé sur cet appareil : rien n’a été envoyé.',
  whereOffline: 'Le serveur est injoignable : calculé sur cet appareil.',
  privateNote:
    'Mode privé : les corrections ne sont pas envoyées. Désactivez « Privé » pour aider à améliorer le modèle.',
  savedQueued: 'Enregistré sur cet appareil : « {label} ». Il sera envoyé quand le serveur sera de retour.',
  alreadySent: 'Déjà envoyée : elle reste enregistrée.',
  queueSentOne: '1 correction faite hors ligne a été envoyée au serveur.',
  queueSent: '{n} corrections faites hors ligne ont été envoyées au serveur.',
  queueDropped: 'Le serveur a refusé une correction faite hors ligne : {message}',
  // "précision" is precision; accuracy is "exactitude".
  accuracy: '{name} (exactitude en test {acc} %)',
  modesLabel: 'Saisie',
  modeDraw: 'Dessin',
  modePhoto: 'Photo',
  photoHeading: 'Photographiez un caractère ou un nombre',
  photoPick: 'Prendre ou choisir une photo',
  photoHelp:
    'Un caractère ou une ligne (un nombre, un mot), encre foncée sur papier clair. La photo est réduite sur cet appareil avant l’envoi.',
  photoView: 'La photo, chaque caractère lu encadré et numéroté',
  photoChars: 'Caractères lus : choisissez-en un pour répondre',
  photoChar: 'Caractère {n} : {label} ({p} %)',
  photoQuestion: 'Caractère {n}, lu « {label} » : est-ce juste ?',
  photoSent: 'Lu sur {w}×{h} px ({kb} Ko envoyés ; la photo fait {ow}×{oh}).',
  photoUnreadable: 'Ce fichier ne s’ouvre pas comme une image ici : utilisez une photo JPEG ou PNG.',
  photoNothing:
    'Aucune écriture trouvée sur cette photo : cadrez les caractères de plus près, foncé sur clair.',
  photoAllDone: 'Chaque caractère a sa réponse. Merci ! Prenez une autre photo quand vous voulez.',
};

export type Lang = 'en' | 'fr';
const MESSAGES: Record<Lang, Messages> = { en, fr };

/** The stored choice, else the browser's preferred language, else English. */
export function initialLang(stored: string | null, browser: readonly string[]): Lang {
  if (stored === 'en' || stored === 'fr') return stored;
  for (const tag of browser) {
    const primary = tag.toLowerCase().split('-')[0];
    if (primary === 'fr' || primary === 'en') return primary;
  }
  return 'en';
}

/** `template` with each {name} replaced by params[name] (left as is when absent). */
export function fillTemplate(template: string, params: Record<string, string | number> = {}): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => String(params[name] ?? `{${name}}`));
}

export function translate(lang: Lang, key: MessageKey, params: Record<string, string | number> = {}): string {
  return fillTemplate(MESSAGES[lang][key], params);
}

/**
 * Rewrites every [data-i18n] text, [data-i18n-aria-label] label and [data-i18n-placeholder]
 * placeholder under `root` from `messages`:
 * the page's (applyTranslations) or another page's own table (the admin view: ./admin-i18n.ts).
 */
export function applyMessages(root: ParentNode, messages: Readonly<Record<string, string>>): void {
  const text = (key: string | undefined) => (key !== undefined && messages[key]) || `{${key}}`;
  for (const el of root.querySelectorAll<HTMLElement>('[data-i18n]')) el.textContent = text(el.dataset.i18n);
  for (const el of root.querySelectorAll<HTMLElement>('[data-i18n-aria-label]'))
    el.setAttribute('aria-label', text(el.dataset.i18nAriaLabel));
  for (const el of root.querySelectorAll<HTMLElement>('[data-i18n-placeholder]'))
    el.setAttribute('placeholder', text(el.dataset.i18nPlaceholder));
}

/** Rewrites every [data-i18n] text and [data-i18n-aria-label] label under `root`. */
export function applyTranslations(root: ParentNode, lang: Lang): void {
  applyMessages(root, MESSAGES[lang]);
}

/** Where the page and the admin view keep the language chosen with their toggle. */
const LANG_KEY = 'hwr.lang';

/** The language chosen with a toggle earlier, or null (none, or storage disabled: private mode, file://). */
export function storedLang(): string | null {
  try {
    return localStorage.getItem(LANG_KEY);
  } catch {
    return null;
  }
}

export function storeLang(lang: Lang): void {
  try {
    localStorage.setItem(LANG_KEY, lang);
  } catch {
    // storage disabled: the choice holds for this page
  }
}

/** The language a page starts in: the stored choice, else the browser's, else English. */
export function startLang(): Lang {
  return initialLang(storedLang(), navigator.languages?.length ? navigator.languages : [navigator.language]);
}
