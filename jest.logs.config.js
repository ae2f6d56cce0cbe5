// `npm run jest:logs`: checks run after the main suite, over what it left in test-artifacts/ (see test/logs/).
import base from './jest.config.js';

export default { ...base, globalSetup: undefined, testMatch: ['<rootDir>/test/logs/**/*.check.ts'] };
