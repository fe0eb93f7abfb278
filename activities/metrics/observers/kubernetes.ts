import { httpObserver } from './http.ts';

export const kubernetes = httpObserver('kubernetes');
