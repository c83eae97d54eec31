/**
 * Docker-save image tarballs: the image ID, config and layers, read without unpacking.
 * @module
 */
export {
  type ImageConfig,
  type ImageManifest,
  indexImageArchive,
  readImageManifest,
} from "./docker_archive.ts";
export { indexTar, readTarEntry, type TarEntry } from "./tar_index.ts";
