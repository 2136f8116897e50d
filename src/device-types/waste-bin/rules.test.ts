/** CONTRACT §5: the waste bin's shipped rules (`rules.json`), reading by reading. */
import { device } from '../../dispatch/testing/fixtures.js';
import { describeRuleCases, type RuleCase } from '../../dispatch/testing/shipped-rules.js';

const bin = device({ id: 'bin-1', type: 'waste-bin' });

const cases: [string, RuleCase][] = [
  [
    'fillingLevel ≥ 0.8 → collect, clears below 0.3',
    {
      rule: 'waste.collect',
      device: bin,
      steps: [
        [0, { fillingLevel: 0.79 }, []],
        [1, { fillingLevel: 0.8 }, ['raised waste.collect']],
        [2, { fillingLevel: 0.3 }, []],
        [3, { fillingLevel: 0.29 }, ['cleared waste.collect']],
      ],
    },
  ],
  [
    'status = burning → urgent waste.fire',
    { rule: 'waste.fire', device: bin, steps: [[0, { fillingLevel: 0.2, status: 'burning' }, ['raised waste.fire']], [1, { fillingLevel: 0.2, status: 'ok' }, ['cleared waste.fire']]] },
  ],
  [
    'temperature ≥ 60 → urgent waste.fire',
    { rule: 'waste.fire', device: bin, steps: [[0, { fillingLevel: 0.2, temperature: 59 }, []], [1, { fillingLevel: 0.2, temperature: 60 }, ['raised waste.fire']]] },
  ],
  [
    'status ∈ {dropped, moved, vandalized} → waste.damage',
    {
      rule: 'waste.damage',
      device: bin,
      steps: [
        [0, { fillingLevel: 0.2, status: 'lidOpen' }, []],
        [1, { fillingLevel: 0.2, status: 'dropped' }, ['raised waste.damage']],
        [2, { fillingLevel: 0.2, status: 'ok' }, ['cleared waste.damage']],
        [3, { fillingLevel: 0.2, status: 'moved' }, ['raised waste.damage']],
        [4, { fillingLevel: 0.2, status: 'ok' }, ['cleared waste.damage']],
        [5, { fillingLevel: 0.2, status: 'vandalized' }, ['raised waste.damage']],
      ],
    },
  ],
];

describeRuleCases('waste-bin rules (CONTRACT §5)', cases);
