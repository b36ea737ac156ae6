import { describe, expect, it } from 'vitest';
import { suggestDomain } from '../../src/verify/suggest-domain.js';

describe('suggestDomain', () => {
  it.each([
    ['gmial.com', 'gmail.com'],
    ['gamil.com', 'gmail.com'],
    ['gmal.com', 'gmail.com'],
    ['gmaill.com', 'gmail.com'],
    ['gnail.com', 'gmail.com'],
    ['hotmial.com', 'hotmail.com'],
    ['hotmal.com', 'hotmail.com'],
    ['hotamil.com', 'hotmail.com'],
    ['yaho.com', 'yahoo.com'],
    ['yahooo.com', 'yahoo.com'],
    ['yhaoo.com', 'yahoo.com'],
    ['outlok.com', 'outlook.com'],
    ['outllok.com', 'outlook.com'],
    ['iclod.com', 'icloud.com'],
    ['lvie.com', 'live.com'],
    ['googlemial.com', 'googlemail.com'],
    ['protonmal.com', 'protonmail.com'],
    ['protnmial.com', 'protonmail.com'],
    ['tonline.de', 't-online.de'],
    ['yandx.ru', 'yandex.ru'],
    ['comcats.net', 'comcast.net'],
  ])('corrects the misspelt name %s to %s', (typed, expected) => {
    expect(suggestDomain(typed)).toBe(expected);
  });

  it.each([
    ['gmail.con', 'gmail.com'],
    ['gmail.cmo', 'gmail.com'],
    ['gmail.co', 'gmail.com'],
    ['gmail.cm', 'gmail.com'],
    ['gmail.om', 'gmail.com'],
    ['gmail.comm', 'gmail.com'],
    ['gmail.vom', 'gmail.com'],
    ['hotmail.con', 'hotmail.com'],
    ['hotmail.co', 'hotmail.com'],
    ['yahoo.co', 'yahoo.com'],
    ['yahoo.cmo', 'yahoo.com'],
    ['outlook.co', 'outlook.com'],
    ['aol.con', 'aol.com'],
    ['me.con', 'me.com'],
    ['qq.co', 'qq.com'],
    ['comcast.nte', 'comcast.net'],
    ['gmx.ne', 'gmx.net'],
    ['web.ed', 'web.de'],
    ['mail.ur', 'mail.ru'],
    ['yahoo.co.ku', 'yahoo.co.uk'],
  ])('corrects the misspelt suffix %s to %s', (typed, expected) => {
    expect(suggestDomain(typed)).toBe(expected);
  });

  it('corrects a misspelt name and suffix together', () => {
    expect(suggestDomain('gmial.con')).toBe('gmail.com');
    expect(suggestDomain('hotmial.co')).toBe('hotmail.com');
  });

  it.each(['gmail.com', 'hotmail.com', 'yahoo.co.uk', 'gmx.de', 'gmx.net', 'proton.me'])(
    'leaves the provider domain %s alone',
    (domain) => {
      expect(suggestDomain(domain)).toBeNull();
    },
  );

  describe('real domains near a provider', () => {
    it('corrects neither gmail.com to mail.com nor mail.com to gmail.com', () => {
      expect(suggestDomain('gmail.com')).toBeNull();
      expect(suggestDomain('mail.com')).toBeNull();
      expect(suggestDomain('email.com')).toBeNull();
      expect(suggestDomain('ymail.com')).toBeNull();
    });

    it('leaves y7mail.com, a real Yahoo domain one edit from ymail.com, alone', () => {
      expect(suggestDomain('y7mail.com')).toBeNull();
    });

    it('never offers a lookalike such as mail.com', () => {
      expect(suggestDomain('mail.con')).toBeNull();
      expect(suggestDomain('emial.com')).toBeNull();
    });

    it('does not turn gm.com into gmx.com, nor gmx.com into gm.com', () => {
      expect(suggestDomain('gm.com')).toBeNull();
      expect(suggestDomain('gmx.com')).toBeNull();
    });

    it.each(['ao.com', 'ms.com', 'aim.com', 'mac.com', 'sky.com', 'cox.com', 'att.com'])(
      'leaves the short domain %s alone',
      (domain) => {
        expect(suggestDomain(domain)).toBeNull();
      },
    );

    it.each(['love.com', 'olive.com', 'life.com', 'liv.com', 'lives.com'])(
      'does not correct the four-letter neighbour %s to live.com',
      (domain) => {
        expect(suggestDomain(domain)).toBeNull();
      },
    );

    it.each(['cloud.com', 'wahoo.com', 'tahoo.com'])(
      'does not correct %s, whose first letter differs from the provider',
      (domain) => {
        expect(suggestDomain(domain)).toBeNull();
      },
    );

    it.each([
      'hotmail.ca',
      'hotmail.es',
      'hotmail.be',
      'yahoo.ca',
      'yahoo.es',
      'yahoo.cn',
      'live.ca',
      'outlook.fr',
      'outlook.cl',
      'protonmail.ch',
      'fastmail.fm',
      'tutanota.de',
      'gmx.at',
      'gmx.ch',
      'web.dk',
      'verizon.com',
      'comcast.com',
      'yandex.ua',
    ])('leaves the real country or corporate domain %s alone', (domain) => {
      expect(suggestDomain(domain)).toBeNull();
    });

    it('leaves a subdomain of a provider alone', () => {
      expect(suggestDomain('mx.gmail.com')).toBeNull();
      expect(suggestDomain('gmail.com.br')).toBeNull();
    });
  });

  it('ignores case and a trailing dot', () => {
    expect(suggestDomain('GMIAL.COM')).toBe('gmail.com');
    expect(suggestDomain('gmail.com.')).toBeNull();
  });

  it('has nothing to say about unrelated domains', () => {
    expect(suggestDomain('example.org')).toBeNull();
    expect(suggestDomain('')).toBeNull();
    expect(suggestDomain('localhost')).toBeNull();
    expect(suggestDomain(`${'g'.repeat(300)}.com`)).toBeNull();
  });

  it('answers the same input the same way every time', () => {
    const answers = new Set(Array.from({ length: 5 }, () => suggestDomain('gmial.co')));
    expect([...answers]).toEqual(['gmail.com']);
  });
});
