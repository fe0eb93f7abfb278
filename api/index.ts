// The public surface of api/: schemas, types, defaults and validation of Flagger's flagger.app/v1beta1 kinds.
export * from './canary.ts';
export * from './status.ts';
export * from './metric-template.ts';
export * from './alert-provider.ts';
export * from './validate.ts';
