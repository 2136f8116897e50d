/** CONTRACT §7: the parking spot's shipped rule (`rules.json`), reading by reading. */
import { device } from '../../dispatch/testing/fixtures.js';
import { describeRuleCases, type RuleCase } from '../../dispatch/testing/shipped-rules.js';

const shortStay = device({ id: 'bay-1', type: 'parking-spot', attributes: { zone: 'centrum-z1', maxStayMin: 120 } });
const longStay = device({ id: 'bay-2', type: 'parking-spot', attributes: { zone: 'zuid-z1', maxStayMin: 240 } });
const noLimit = device({ id: 'bay-3', type: 'parking-spot', attributes: { zone: 'zuid-z1' } });

const cases: [string, RuleCase][] = [
  [
    'occupied for longer than maxStayMin (120) → event only; the car leaving clears it',
    {
      rule: 'parking.overstay',
      device: shortStay,
      steps: [
        [0, { status: 'free' }, []],
        [5, { status: 'occupied' }, []],
        [124, { status: 'occupied' }, []],
        [125, { status: 'occupied' }, ['raised parking.overstay']],
        [200, { status: 'occupied' }, []],
        [210, { status: 'free' }, ['cleared parking.overstay']],
      ],
    },
  ],
  [
    'each bay waits its own maxStayMin: 240 min in this zone',
    {
      rule: 'parking.overstay',
      device: longStay,
      steps: [
        [0, { status: 'occupied' }, []],
        [130, { status: 'occupied' }, []],
        [239, { status: 'occupied' }, []],
        [240, { status: 'occupied' }, ['raised parking.overstay']],
      ],
    },
  ],
  [
    'a bay without maxStayMin waits the default two hours',
    {
      rule: 'parking.overstay',
      device: noLimit,
      steps: [
        [0, { status: 'occupied' }, []],
        [119, { status: 'occupied' }, []],
        [120, { status: 'occupied' }, ['raised parking.overstay']],
      ],
    },
  ],
  [
    'a car leaving and another arriving starts the time again',
    {
      rule: 'parking.overstay',
      device: shortStay,
      steps: [
        [0, { status: 'occupied' }, []],
        [100, { status: 'free' }, []],
        [101, { status: 'occupied' }, []],
        [200, { status: 'occupied' }, []],
        [221, { status: 'occupied' }, ['raised parking.overstay']],
      ],
    },
  ],
  [
    'closed and unknown never raise it',
    {
      rule: 'parking.overstay',
      device: shortStay,
      steps: [
        [0, { status: 'closed' }, []],
        [600, { status: 'closed' }, []],
        [601, { status: 'unknown' }, []],
        [1200, { status: 'unknown' }, []],
      ],
    },
  ],
];

describeRuleCases('parking-spot rules (CONTRACT §7)', cases);
