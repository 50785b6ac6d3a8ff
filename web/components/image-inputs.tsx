/** Adding to an opened image: the same "Add …" buttons and drops as a new build, into the selected folder. */
import { useState } from 'react';
import {
  addArchivesToImage,
  addFilesToImage,
  addFolderToImage,
  dropIntoImage,
  imageTargetFolder,
  useImage,
} from '../state/opened-image.ts';
import { dragHasFiles, readDrop } from '../input/collect.ts';
import { AddButtons, type AddHandlers } from './input-panel.tsx';

const handlers: AddHandlers = {
  files: (f) => void addFilesToImage(f),
  folder: (f) => void addFolderToImage(f),
  archive: (f) => void addArchivesToImage(f),
};

export function ImageInputs() {
  const busy = useImage((s) => s.busy !== null || s.status !== 'open' || !s.image?.fsck.clean);
  const clean = useImage((s) => s.image?.fsck.clean ?? false);
  useImage((s) => s.selectedId);
  useImage((s) => s.treeVersion);
  const [over, setOver] = useState(false);
  return (
    <section className="panel" aria-labelledby="image-inputs-heading">
      <div className="panel-head">
        <h2 id="image-inputs-heading">Add to the image</h2>
        <AddButtons
          compact
          handlers={handlers}
          disabled={busy}
          destination={imageTargetFolder()}
          describedBy="image-add-destination"
        />
      </div>
      <div
        className={`drop-strip ${over ? 'is-over' : ''}`}
        onDragOver={(e) => {
          if (!dragHasFiles(e.dataTransfer)) return;
          e.preventDefault();
          e.dataTransfer.dropEffect = 'copy';
          setOver(true);
        }}
        onDragLeave={(e) => {
          if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setOver(false);
        }}
        onDrop={(e) => {
          setOver(false);
          if (!dragHasFiles(e.dataTransfer)) return;
          e.preventDefault();
          const at = imageTargetFolder();
          void readDrop(e.dataTransfer).then((list) => dropIntoImage(list, at));
        }}
      >
        {clean ? (
          <>
            <span id="image-add-destination">
              Adds and drops here go into <code>{imageTargetFolder()}</code> (the selected folder)
            </span>
            , or drop onto any folder below. debugfs copies them in.
          </>
        ) : (
          <>The image must be clean to be changed: repair it first.</>
        )}
      </div>
    </section>
  );
}
