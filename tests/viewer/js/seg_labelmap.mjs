// Reads the node's DICOM SEG together with its source PET instances the way OHIF's SEG loader
// does (dcmjs' cornerstone adapter: frames matched to source images, bits unpacked into one
// labelmap over the image stack), and writes that labelmap for the Python test to compare with
// the masks the node wrote.
//
//   node seg_labelmap.mjs SEG.dcm OUT_PREFIX PET1.dcm PET2.dcm ...   (PET files in stack order)
//
// Writes OUT_PREFIX.json (segment labels, stack size, frames matched) and, for each way of
// matching frames to images, OUT_PREFIX.<way>.u16 (uint16 little endian, slice-major labelmap):
// "reference" follows each frame's SourceImageSequence, "position" ignores it so that frames
// must be placed by their ImagePositionPatient alone (what viewers fall back to).
import { readFileSync, writeFileSync } from "node:fs";
import dcmjs from "dcmjs";

const { DicomMessage, DicomMetaDictionary } = dcmjs.data;
const [segPath, outPrefix, ...petPaths] = process.argv.slice(2);

function readNaturalized(path) {
  const bytes = readFileSync(path);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const dicom = DicomMessage.readFile(buffer);
  return { buffer, dataset: DicomMetaDictionary.naturalizeDataset(dicom.dict) };
}

const pets = petPaths.map((path) => readNaturalized(path).dataset);
const imageIds = pets.map((_, index) => `pet:${index}`);

// The cornerstone metadata modules the adapter asks for, from each PET instance's header.
function provider(hideSopInstanceUids) {
  return {
    get(module, imageId) {
      const ds = pets[Number(imageId.split(":")[1])];
      if (!ds) return undefined;
      const orientation = ds.ImageOrientationPatient.map(Number);
      switch (module) {
        case "instance":
          return ds;
        case "imagePlaneModule":
          return {
            rowCosines: orientation.slice(0, 3),
            columnCosines: orientation.slice(3, 6),
            imagePositionPatient: ds.ImagePositionPatient.map(Number),
            rows: ds.Rows,
            columns: ds.Columns,
            rowPixelSpacing: Number(ds.PixelSpacing[0]),
            columnPixelSpacing: Number(ds.PixelSpacing[1]),
            frameOfReferenceUID: ds.FrameOfReferenceUID,
          };
        case "generalSeriesModule":
          return { seriesInstanceUID: ds.SeriesInstanceUID, modality: ds.Modality };
        case "sopCommonModule":
          return {
            sopInstanceUID: hideSopInstanceUids ? `hidden.${imageId}` : ds.SOPInstanceUID,
            sopClassUID: ds.SOPClassUID,
          };
        case "imagePixelModule":
          return { rows: ds.Rows, columns: ds.Columns, bitsAllocated: ds.BitsAllocated };
        default: // "frameNumber" and the rest: single-frame PET, nothing more to say
          return undefined;
      }
    },
  };
}

const seg = readNaturalized(segPath);
const summary = { stack: pets.length, rows: pets[0].Rows, columns: pets[0].Columns, ways: {} };
summary.segments = Object.fromEntries(
  [seg.dataset.SegmentSequence].flat().map((s) => [s.SegmentNumber, s.SegmentLabel]),
);
summary.frames = seg.dataset.NumberOfFrames;

const warnings = [];
console.warn = (...args) => warnings.push(args.join(" "));
for (const [way, hide] of [["reference", false], ["position", true]]) {
  const state = dcmjs.adapters.Cornerstone.Segmentation.generateToolState(
    imageIds, seg.buffer, provider(hide), false, 1e-3,
  );
  const labelmaps = state.labelmapBufferArray;
  const framesPlaced = state.segmentsOnFrame.filter((s) => s && s.length).length;
  summary.ways[way] = { labelmaps: labelmaps.length, slicesWithSegments: framesPlaced };
  // Overlapping segments come as several labelmaps: write each.
  labelmaps.forEach((labelmap, i) => {
    writeFileSync(`${outPrefix}.${way}.${i}.u16`, Buffer.from(labelmap));
  });
}
summary.warnings = warnings.slice(0, 20);
writeFileSync(`${outPrefix}.json`, JSON.stringify(summary, null, 1));
