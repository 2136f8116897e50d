/** CONTRACT §5: the parking meter's shipped rules (`rules.json`), reading by reading. */
import { device } from '../../dispatch/testing/fixtures.js';
import { describeRuleCases, type Fields, type RuleCase } from '../../dispatch/testing/shipped-rules.js';

const meter = device({ id: 'meter-1', type: 'parking-meter' });
const meterFields = (f: Fields = {}): Fields => ({ totalSpotNumber: 10, availableSpotNumber: 4, ...f });

const cases: [string, RuleCase][] = [
  [
    'status ≠ ok → parking.repair',
    { rule: 'parking.repair', device: meter, steps: [[0, meterFields({ status: 'ok' }), []], [1, meterFields({ status: 'paperLow' }), ['raised parking.repair']]] },
  ],
  [
    'coinBoxLevel ≥ 0.9 → parking.coins',
    { rule: 'parking.coins', device: meter, steps: [[0, meterFields({ coinBoxLevel: 0.89 }), []], [1, meterFields({ coinBoxLevel: 0.9 }), ['raised parking.coins']], [2, meterFields({ coinBoxLevel: 0 }), ['cleared parking.coins']]] },
  ],
  [
    'availableSpotNumber = 0 for 30 min → event only',
    {
      rule: 'parking.full',
      device: meter,
      steps: [
        [0, meterFields({ availableSpotNumber: 0 }), []],
        [29, meterFields({ availableSpotNumber: 0 }), []],
        [30, meterFields({ availableSpotNumber: 0 }), ['raised parking.full']],
        [31, meterFields({ availableSpotNumber: 1 }), ['cleared parking.full']],
      ],
    },
  ],
];

describeRuleCases('parking-meter rules (CONTRACT §5)', cases);
