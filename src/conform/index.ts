export { runConform, formatReport, replay, summarise, divergenceLines, PROFILES, findProfile, type Profile, type ConformOptions, type ConformReport, type SuiteReport, type FailureReport, type Verdict } from './conform.js';
export { generateGolden, loadGolden, type GoldenCase, type Manifest, type GenerateOptions } from './golden.js';
export { SUITES, selectSuites, type Suite, type Req } from './suites.js';
export { measureOutputs, compareOutputs, type Tolerance, type Mismatch, type Worst } from './compare.js';
export { OP_VERSIONS, attrDefaults, completeAttrs, tiePolicy, optionalOutputs } from './defaults.js';
