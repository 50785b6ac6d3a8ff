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
  return (
    <fieldset className="save-choice" disabled={disabled}>
      <legend className="visually-hidden">Where the image goes</legend>
      <label className="radio">
        <input
          type="radio"
          name={name}
          value="file"
          checked={mode === 'file'}
          onChange={() => studio().setSaveMode('file')}
        />
        <span>
          <strong>Save to a file</strong> <span className="muted">{fileHint}</span>
        </span>
      </label>
      <label className="radio">
        <input
          type="radio"
          name={name}
          value="download"
          checked={mode === 'download'}
          onChange={() => studio().setSaveMode('download')}
        />
        <span>
          <strong>Download</strong>{' '}
          <span className="muted">kept in the browser's storage on disk, downloaded when done</span>
        </span>
      </label>
    </fieldset>
  );
}
