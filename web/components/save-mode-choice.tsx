/** "Save to a file" or "Download": where a build's or an opened image's output goes. */
import { type SaveMode, studio } from '../state/store.ts';

/**
 * The two save modes as a radio group (the choice is the studio's one `saveMode`).
 * @param name the radio group's name, unique on the page.
 * @param fileHint what "Save to a file" does here, shown after it.
 */
export function SaveModeChoice({
  name,
  mode,
  disabled,
  fileHint,
}: {
  name: string;
  mode: SaveMode;
  disabled: boolean;
  fileHint: string;
}) {
  const choices: [SaveMode, string, string][] = [
    ['file', 'Save to a file', fileHint],
    ['download', 'Download', "kept in the browser's storage on disk, downloaded when done"],
  ];
  return (
    <fieldset className="save-choice" disabled={disabled}>
      <legend className="visually-hidden">Where the image goes</legend>
      {choices.map(([value, title, hint]) => (
        <label key={value} className="radio">
          <input
            type="radio"
            name={name}
            value={value}
            checked={mode === value}
            onChange={() => studio().setSaveMode(value)}
          />
          <span>
            <strong>{title}</strong> <span className="muted">{hint}</span>
          </span>
        </label>
      ))}
    </fieldset>
  );
}
